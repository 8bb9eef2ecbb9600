"""Fixtures for the browser test of the built site (marker ``browser``; not part of the default run).

    scripts/ci_browser_setup.sh                 # Debian chromium + the playwright package, once
    .venv/bin/python -m pytest -m browser tests/browser --site _build/html

The site folder comes from ``--site`` (or the environment variable ``GRAPHON_SITE``; default
``_build/html``). The browser is the system Chromium (``/usr/bin/chromium``, or ``GRAPHON_CHROMIUM``),
driven by Playwright; Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    # As root (CI) Chromium needs --no-sandbox; the rest stop its background calls to Google's
    # hosts, which this machine's closed network refuses (see the machine notes for Chromium).
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--metrics-recording-only",
    "--no-pings", "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions",
]


def pytest_addoption(parser):
    parser.addoption("--site", action="store", default=None,
                     help="built site to open in the browser (default: $GRAPHON_SITE or _build/html)")


def site_dir(config) -> Path:
    value = config.getoption("--site", default=None) or os.environ.get("GRAPHON_SITE") or "_build/html"
    path = Path(value)
    return path if path.is_absolute() else (Path.cwd() / path)


def site_pages(site: Path) -> list[Path]:
    """Every HTML page of the site, except the copies of sources and static assets."""
    skip = {"_static", "_sources", "_images", "_downloads"}
    return sorted(p for p in site.rglob("*.html") if not (set(p.relative_to(site).parts[:-1]) & skip))


def pytest_generate_tests(metafunc):
    if "page_path" in metafunc.fixturenames:
        site = site_dir(metafunc.config)
        pages = site_pages(site) if site.is_dir() else []
        ids = [p.relative_to(site).as_posix() for p in pages]
        metafunc.parametrize("page_path", pages or [None], ids=ids or ["no-site"])


@pytest.fixture(scope="session")
def site(pytestconfig) -> Path:
    path = site_dir(pytestconfig)
    if not (path / "index.html").is_file() and not any(path.glob("**/*.html")):
        pytest.fail(f"no built site at {path}: run `make book` first (or pass --site DIR)")
    return path


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="run scripts/ci_browser_setup.sh first")
    executable = os.environ.get("GRAPHON_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail(f"no Chromium at {executable}: run scripts/ci_browser_setup.sh first")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
