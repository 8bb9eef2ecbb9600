"""Open every page of the built site from disk (file://) in headless Chromium and check what a reader sees.

Run after `make book` (see conftest.py for the setup):

    .venv/bin/python -m pytest -m browser tests/browser --site _build/html

For each HTML page:
* no request leaves the machine: every request whose address is not file:, data:, blob: or about: is
  recorded and aborted, and the test fails listing them;
* no local file is missing (a failed file:// request, e.g. a MathJax font or extension that was not vendored);
* no console error and no uncaught exception (no allow-list: Thebe, whose duplicated inline script raised
  "Identifier 'THEBE_JS_URL' has already been declared", is not loaded by this book);
* the maths is typeset: on a page with math, MathJax (the local copy) has started, there is at least one
  `mjx-container` per math element, no `mjx-merror` (a TeX error), and no raw `\\(`, `\\[`, `$$` or
  `\\begin{` is left in the text outside code;
* every `<img>` has loaded (naturalWidth > 0);
* every solution drop-down (sphinx-exercise `:class: dropdown`) starts closed and opens on a click.

And for the result chapters: maths typeset, a figure loaded, solution drop-downs present (except in the student
edition), and the page's download menu offers the `.ipynb` (the file exists).

Then the search page opened from disk with a query (results listed, no console error), and every page on a
400 x 800 phone viewport (test_phone_layout: no sideways page scroll, wide equations and figures scroll in
their own box with a visible cue, figures never below 70 % of their natural size).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.browser

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")
NAV_TIMEOUT_MS = 30_000

MATH_STATE_JS = """
async () => {
  const n = document.querySelectorAll('.math').length;
  if (n === 0) return {math: 0, started: false, containers: 0, errors: 0};
  const deadline = Date.now() + 20000;
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() > deadline) return {math: n, started: false, containers: 0, errors: 0};
    await new Promise(r => setTimeout(r, 50));
  }
  try {
    await MathJax.startup.promise;
  } catch (err) {
    return {math: n, started: true, failed: String(err), containers: 0, errors: 0};
  }
  return {math: n, started: true,
          containers: document.querySelectorAll('mjx-container').length,
          errors: document.querySelectorAll('mjx-merror').length};
}
"""

TEXT_OUTSIDE_CODE_JS = """
() => {
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight, .cell_input')
       .forEach(e => e.remove());
  return clone.textContent;
}
"""

IMAGES_JS = """
async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(img => { img.loading = 'eager'; });
  await Promise.all(imgs.map(img => img.complete ? null : new Promise(resolve => {
    img.addEventListener('load', resolve); img.addEventListener('error', resolve);
    setTimeout(resolve, 10000);
  })));
  return imgs.map(img => ({src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0}));
}
"""


class Visit:
    """One page opened in a fresh browser context, with everything it tried to load or log."""

    def __init__(self, browser, path: Path, query: str = "", viewport: dict | None = None):
        options = {"viewport": viewport, "is_mobile": True, "has_touch": True} if viewport else {}
        self.context = browser.new_context(java_script_enabled=True, service_workers="block", **options)
        self.remote: list[str] = []
        self.failed_local: list[str] = []
        self.console_errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(NAV_TIMEOUT_MS)
        self.page.on("request", self._request)
        self.page.on("requestfailed", self._failed)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"uncaught: {exc}"))
        html = path.read_text(encoding="utf8", errors="replace")
        redirect = re.search(r'http-equiv="Refresh" content="\d+;\s*url=([^"]+)"', html, flags=re.I)
        self.page.goto(path.as_uri() + query, wait_until="load")
        if redirect:  # JB1's index.html redirects to the root page
            target = (path.parent / redirect.group(1)).resolve().as_uri()
            self.page.wait_for_url(target)
            self.page.wait_for_load_state("load")

    def _route(self, route):
        url = route.request.url
        if url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            self.remote.append(url)
            route.abort()

    def _request(self, request):
        url = request.url
        if not url.startswith(LOCAL_SCHEMES) and url not in self.remote:
            self.remote.append(url)

    def _failed(self, request):
        if request.url.startswith("file:"):
            self.failed_local.append(f"{request.url} ({request.failure})")

    def _console(self, message):
        if message.type == "error":
            self.console_errors.append(f"console: {message.text}")

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site, page_path):
    if page_path is None:
        pytest.fail(f"no HTML pages under {site}")
    v = Visit(browser, page_path)
    yield v
    v.close()


def test_page(visit, page_path, site):
    page = visit.page
    name = page_path.relative_to(site).as_posix()
    problems: list[str] = []

    math = page.evaluate(MATH_STATE_JS)
    if math["math"]:
        if not math["started"]:
            problems.append(f"{math['math']} math element(s) but MathJax never started "
                            "(is _static/mathjax/tex-mml-chtml.js there? run make mathjax)")
        elif math.get("failed"):
            problems.append(f"MathJax failed: {math['failed']}")
        elif math["containers"] < math["math"]:
            problems.append(f"only {math['containers']} mjx-container for {math['math']} math element(s)")
        if math["errors"]:
            problems.append(f"{math['errors']} MathJax error box(es) (mjx-merror): a TeX command failed")
    text = page.evaluate(TEXT_OUTSIDE_CODE_JS)
    raw = sorted({m.group(0)[:60] for m in RAW_TEX.finditer(text)})
    if raw:
        problems.append(f"raw TeX left in the page text (not typeset): {raw[:5]}")

    for image in page.evaluate(IMAGES_JS):
        if not image["ok"]:
            problems.append(f"image did not load: {image['src']}")

    solutions = page.locator(".solution.dropdown")
    for i in range(solutions.count()):
        solution = solutions.nth(i)
        body = solution.locator(":scope > :not(.admonition-title)").first
        if body.count() == 0:
            problems.append(f"solution {i + 1} has no body")
            continue
        if body.is_visible():
            problems.append(f"solution {i + 1} is visible before it is opened (not a closed drop-down)")
        solution.locator(":scope > .admonition-title").click()
        try:
            body.wait_for(state="visible", timeout=5000)
        except Exception:  # playwright TimeoutError
            problems.append(f"solution {i + 1} did not open on click")

    page.wait_for_timeout(100)  # let late console messages and requests arrive
    if visit.remote:
        remote = sorted(set(visit.remote))
        problems.append(f"{len(remote)} request(s) to other hosts: {remote[:5]}")
    if visit.failed_local:
        problems.append(f"local file(s) failed to load: {visit.failed_local[:5]}")
    if visit.console_errors:
        problems.append(f"console error(s): {visit.console_errors[:5]}")

    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


def test_chapters_have_math_figures_and_solutions(browser, site):
    """The result chapters (when built) are the pages where the checks above matter most: make sure they ran."""
    found = 0
    for chapter in ("convergence", "expressivity", "generalisation"):
        path = site / "book" / f"{chapter}.html"
        if not path.is_file():
            continue
        found += 1
        v = Visit(browser, path)
        try:
            math = v.page.evaluate(MATH_STATE_JS)
            images = v.page.evaluate(IMAGES_JS)
            assert math["math"] > 0 and math["containers"] >= math["math"], f"{chapter}: maths not typeset"
            assert any(img["ok"] for img in images), f"{chapter}: no figure image loaded"
            student = v.page.locator(".admonition-title", has_text="Student edition").count() > 0
            if not student:
                assert v.page.locator(".solution.dropdown").count() > 0, f"{chapter}: no solution drop-down"
            # The download menu offers the executed notebook (scripts/export_notebooks.py), and the file is there.
            links = v.page.locator(".dropdown-download-buttons a").evaluate_all(
                "els => els.map(e => [e.textContent.trim(), e.href])")
            ipynb = [href for text, href in links if text == ".ipynb"]
            assert ipynb, f"{chapter}: no .ipynb entry in the download menu ({links})"
            assert ipynb[0].startswith("file:") and Path(unquote(urlsplit(ipynb[0]).path)).is_file(), \
                f"{chapter}: {ipynb[0]} missing"
        finally:
            v.close()
    assert found, f"no result chapter under {site / 'book'}"


# --- Search opened from disk (issue: titles only and CORS errors from file://) ---

def test_search_works_from_disk(browser, site):
    """search.html?q=graphon from file://: results listed, no console error (no blocked preview fetches),
    and a note that says how to serve the site for previews."""
    path = site / "search.html"
    if not path.is_file():
        pytest.fail(f"no search page at {path}")
    v = Visit(browser, path, query="?q=graphon")
    try:
        v.page.wait_for_selector("#search-results ul.search li", timeout=20_000)
        v.page.wait_for_timeout(500)  # previews, if any, would be fetched now
        results = v.page.locator("#search-results ul.search li").count()
        note = v.page.locator(".graphon-search-note").inner_text()
        assert results >= 3, f"only {results} result(s) for 'graphon'"
        assert "python -m http.server" in note
        assert not v.console_errors, f"console error(s): {v.console_errors[:5]}"
        assert not v.failed_local, f"local file(s) failed to load: {v.failed_local[:5]}"
        assert not v.remote, f"request(s) to other hosts: {v.remote[:5]}"
    finally:
        v.close()


# --- A 400 px phone (Chromium, 400 x 800) ---

PHONE = {"width": 400, "height": 800}
MIN_FIGURE_SCALE = 0.7  # _site_static/graphon-site.js: a figure is never shown below 70 % of its natural size

PHONE_LAYOUT_JS = """
async () => {
  const imgs = Array.from(document.querySelectorAll('div.cell_output img'));
  imgs.forEach(img => { img.loading = 'eager'; });
  await Promise.all(imgs.map(img => img.complete ? null : new Promise(resolve => {
    img.addEventListener('load', resolve); img.addEventListener('error', resolve); setTimeout(resolve, 10000);
  })));
  await new Promise(r => setTimeout(r, 300));  // let graphon-site.js size the figures
  const cue = el => {
    const s = getComputedStyle(el);
    return ['auto', 'scroll'].includes(s.overflowX) && s.backgroundImage.includes('gradient');
  };
  const scrolls = el => {  // the box really scrolls sideways
    const before = el.scrollLeft; el.scrollLeft = 40; const moved = el.scrollLeft > before; el.scrollLeft = before;
    return moved;
  };
  const equations = Array.from(document.querySelectorAll('mjx-container[display="true"]')).map(el => {
    const over = el.scrollWidth > el.clientWidth + 1;
    return {over, cue: cue(el), scrolls: over ? scrolls(el) : true, right: el.getBoundingClientRect().right,
            tex: (el.getAttribute('aria-label') || el.textContent).slice(0, 40)};
  });
  const figures = imgs.filter(img => img.naturalWidth > 0).map(img => {
    const box = img.closest('.graphon-scroll');
    const over = box ? box.scrollWidth > box.clientWidth + 1 : false;
    return {src: img.getAttribute('src'), natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
            boxed: !!box, over, cue: box ? cue(box) : false, scrolls: over ? scrolls(box) : true,
            right: box ? box.getBoundingClientRect().right : img.getBoundingClientRect().right};
  });
  return {viewport: window.innerWidth, page: document.documentElement.scrollWidth, equations, figures};
}
"""


def test_phone_layout(browser, site, page_path):
    """On a 400 px phone: the page itself never scrolls sideways; a display equation wider than the screen
    scrolls inside its own box, with the scroll-shadow cue; a figure is shown at >= 70 % of its natural size
    (or whole), inside a box that scrolls with the same cue when it is wider than the screen."""
    if page_path is None:
        pytest.fail(f"no HTML pages under {site}")
    name = page_path.relative_to(site).as_posix()
    v = Visit(browser, page_path, viewport=PHONE)
    try:
        math = v.page.evaluate(MATH_STATE_JS)
        assert not math["math"] or math["started"], f"{name}: MathJax did not start"
        layout = v.page.evaluate(PHONE_LAYOUT_JS)
    finally:
        v.close()
    problems = []
    # Compare with the phone's width, not innerWidth: a mobile browser widens its layout viewport (and zooms
    # out) when the page overflows, which would hide the overflow it is meant to measure.
    layout["viewport"] = PHONE["width"]
    if layout["page"] > layout["viewport"] + 1:
        problems.append(f"the page is {layout['page']} px wide on a {layout['viewport']} px screen")
    for eq in layout["equations"]:
        if eq["right"] > layout["viewport"] + 1:
            problems.append(f"equation runs off the screen: {eq['tex']!r}")
        if eq["over"] and not (eq["cue"] and eq["scrolls"]):
            problems.append(f"wide equation without a scroll box and cue: {eq['tex']!r}")
    for fig in layout["figures"]:
        if not fig["boxed"]:
            problems.append(f"figure {fig['src']} is not in a .graphon-scroll box (graphon-site.js not loaded?)")
        if fig["shown"] + 1 < min(fig["natural"], MIN_FIGURE_SCALE * fig["natural"]):
            problems.append(f"figure {fig['src']} shown at {fig['shown']:.0f} px, natural {fig['natural']} px "
                            f"(below {MIN_FIGURE_SCALE:.0%}: tick labels unreadable)")
        if fig["over"] and not (fig["cue"] and fig["scrolls"]):
            problems.append(f"figure {fig['src']} is wider than its box, which has no scroll cue")
        if fig["right"] > layout["viewport"] + 1:
            problems.append(f"figure box of {fig['src']} runs off the screen")
    assert not problems, f"{name} at {PHONE['width']} px:\n  " + "\n  ".join(problems)
