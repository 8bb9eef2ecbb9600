#!/usr/bin/env bash
# Install what the browser test (tests/browser, `pytest -m browser`) needs, idempotently:
#   * Debian's Chromium at /usr/bin/chromium (apt), used by Playwright through `executable_path`;
#   * the Python package `playwright` in the project's virtual environment (PyPI).
# Playwright's own browser download (`playwright install`) is never used: it needs a host that is
# not reachable here, and the system Chromium is enough.
# Usage: scripts/ci_browser_setup.sh [VENV]   (default .venv). Safe to run twice: a second run is a no-op.
set -euo pipefail
VENV="${1:-.venv}"
PY="$VENV/bin/python"

if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q >/dev/null
    # fonts-dejavu-core: a fallback font, so pages render text even on a minimal image.
    $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null  # the Debian wrapper prints a harmless shell warning

if [ ! -x "$PY" ]; then
    echo "no virtual environment at $VENV (run 'make venv' first)" >&2
    exit 1
fi
if ! "$PY" -c "import playwright" 2>/dev/null; then
    # Same version range as pyproject's [browser] extra.
    "$PY" -m pip install -q "playwright>=1.40"
fi
"$PY" -c "from importlib.metadata import version; print('playwright', version('playwright'))"
