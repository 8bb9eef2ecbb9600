"""``python -m graphon run|sweep|list``: the command line lives in :mod:`graphon.runs.cli`."""

import sys

from .runs.cli import main

if __name__ == "__main__":
    sys.exit(main())
