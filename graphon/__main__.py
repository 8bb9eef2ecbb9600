"""``python -m graphon run|sweep|list``: see :mod:`graphon.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
