"""Check the built site (``_build/html``) before it is published: cheap, static, no browser.

    python scripts/check_site.py _build/html [--toc _toc.yml] [--chapters convergence expressivity ...]

Checks, each failure printed as one line starting with ``FAIL``:

1. every page listed in ``_toc.yml`` (root, parts, chapters, sections) was built as HTML;
2. every result chapter (default: convergence, expressivity, generalisation) shows at least
   ``--min-figures`` images produced by its executed notebook (``<img>`` inside a cell output), each image file
   exists and is not empty, and the page holds no error output (a traceback);
3. every result chapter can be downloaded as a notebook (``_sources/<page>.ipynb``, written by
   ``scripts/export_notebooks.py``);
4. no page loads anything from another host: no ``<script src>``, stylesheet, font, image, frame or media
   with an ``http(s)://`` or ``//`` address; no ``cdn.jsdelivr.net``/``unpkg.com``/other CDN name anywhere in a
   page (inline scripts included), and no ``@import``/``url()`` of a remote address in the site's CSS.
   Ordinary links (``<a href>``, e.g. the DOIs in the bibliography) are allowed: they load nothing;
5. MathJax is served locally: each page that references ``mathjax`` loads it from ``_static``, that file
   exists, and so does the folder of TeX extensions it autoloads (``input/tex/extensions``).

Exit status 0 when all checks pass, 1 otherwise, 2 on bad arguments. A summary (pages, figures per chapter)
is printed either way.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_CHAPTERS = ("convergence", "expressivity", "generalisation")
CDN_NAMES = ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "fonts.googleapis.com",
             "fonts.gstatic.com", "ajax.googleapis.com", "code.jquery.com", "mathjax.org",
             "polyfill.io", "stackpath.bootstrapcdn.com", "use.fontawesome.com", "kit.fontawesome.com")
# (tag, attribute) pairs that make the browser fetch something when the page is shown.
LOADING_ATTRS = {
    ("script", "src"), ("img", "src"), ("img", "srcset"), ("iframe", "src"), ("embed", "src"),
    ("source", "src"), ("source", "srcset"), ("video", "src"), ("video", "poster"), ("audio", "src"),
    ("track", "src"), ("object", "data"), ("input", "src"), ("image", "href"), ("use", "href"),
}
# <link rel=...> values that fetch their href.
LOADING_LINK_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "icon", "shortcut",
                     "apple-touch-icon", "manifest", "preconnect", "dns-prefetch"}
_REMOTE_CSS = re.compile(r"""(@import\s+(url\()?\s*['"]?|url\(\s*['"]?)(https?:)?//""", re.I)


def is_remote(url: str) -> bool:
    """True when ``url`` points to another host (``http(s)://...`` or protocol-relative ``//...``)."""
    url = url.strip()
    return url.startswith("//") or urlsplit(url).scheme in ("http", "https")


@dataclass
class PageScan:
    """What :class:`_PageParser` found in one HTML page."""

    remote_loads: list[str] = field(default_factory=list)
    output_images: list[str] = field(default_factory=list)  # src of <img> inside notebook cell outputs
    figures: int = 0  # numbered figures (<figure> with a caption) that hold an output image
    tracebacks: int = 0
    scripts: list[str] = field(default_factory=list)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scan = PageScan()
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, in cell output, in figure)

    def _inside(self) -> tuple[bool, bool]:
        return (self._stack[-1][1], self._stack[-1][2]) if self._stack else (False, False)

    def handle_starttag(self, tag, attrs):
        attrs_d = {k: (v or "") for k, v in attrs}
        classes = set(attrs_d.get("class", "").split())
        in_output, in_figure = self._inside()
        in_output = in_output or "cell_output" in classes
        if "traceback" in classes and "output" in classes:
            self.scan.tracebacks += 1
        if tag == "script" and attrs_d.get("src"):
            self.scan.scripts.append(attrs_d["src"])
        for attr, value in attrs_d.items():
            if (tag, attr) in LOADING_ATTRS and value:
                urls = [part.strip().split(" ")[0] for part in value.split(",")] if "srcset" in attr else [value]
                self.scan.remote_loads.extend(f"<{tag} {attr}={u}>" for u in urls if is_remote(u))
        if tag == "link":
            rels = set(attrs_d.get("rel", "").lower().split())
            if rels & LOADING_LINK_RELS and is_remote(attrs_d.get("href", "")):
                self.scan.remote_loads.append(f"<link rel={attrs_d.get('rel')} href={attrs_d['href']}>")
        if tag == "img" and in_output:
            self.scan.output_images.append(attrs_d.get("src", ""))
            if in_figure:
                self.scan.figures += 1
        if tag == "figure":
            in_figure = True
        if tag not in _VOID:
            self._stack.append((tag, in_output, in_figure))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._stack and self._stack[-1][0] == tag:
            self._stack.pop()

    def handle_endtag(self, tag):
        # Pop up to the matching open tag (tolerates unclosed <p>, <li>...).
        for k in range(len(self._stack) - 1, -1, -1):
            if self._stack[k][0] == tag:
                del self._stack[k:]
                return


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def scan_page(html: str) -> PageScan:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.scan


def toc_pages(toc_path: Path) -> list[str]:
    """Every ``file:`` of a Jupyter Book ``_toc.yml`` (root first), without suffix, in order."""
    import yaml

    toc = yaml.safe_load(toc_path.read_text(encoding="utf8")) or {}
    pages: list[str] = []

    def add(name: str) -> None:
        name = re.sub(r"\.(md|ipynb|rst)$", "", str(name).strip("/"))
        if name not in pages:
            pages.append(name)

    def walk(node) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "file" in node:
                add(node["file"])
            for key in ("parts", "chapters", "sections", "subtrees", "entries"):
                if key in node:
                    walk(node[key])

    if "root" in toc:
        add(toc["root"])
    walk(toc)
    return pages


def _page_for(chapter: str, pages: list[str]) -> str:
    """Map a chapter name (``convergence``) to its toc docname (``book/convergence``)."""
    for page in pages:
        if page == chapter or page.endswith("/" + chapter):
            return page
    return f"book/{chapter}"


def check_site(html_dir: Path, toc: Path, chapters=DEFAULT_CHAPTERS, min_figures: int = 1,
               require_ipynb: bool = True) -> tuple[list[str], list[str]]:
    """Run every check. Returns (failures, summary lines)."""
    failures: list[str] = []
    summary: list[str] = []
    if not html_dir.is_dir():
        return [f"{html_dir}: no such folder (build the book first: make book)"], summary
    pages = toc_pages(toc) if toc.is_file() else []
    if not pages:
        failures.append(f"{toc}: no pages found (missing or empty _toc.yml)")

    # 1. every toc page was built
    for page in pages:
        if not (html_dir / f"{page}.html").is_file():
            failures.append(f"{page}: listed in {toc.name} but {html_dir / (page + '.html')} was not built")

    html_files = sorted(html_dir.rglob("*.html"))
    scans = {}
    for path in html_files:
        text = path.read_text(encoding="utf8", errors="replace")
        scan = scan_page(text)
        scans[path] = scan
        rel = path.relative_to(html_dir).as_posix()
        # 4. nothing from another host
        for load in sorted(set(scan.remote_loads)):
            failures.append(f"{rel}: loads a resource from another host: {load}")
        for name in CDN_NAMES:
            if name in text:
                failures.append(f"{rel}: mentions the CDN host '{name}' (remote script, font or style?)")
        # 5. MathJax served locally
        for src in scan.scripts:
            if "mathjax" in src.lower() and not is_remote(src):
                local = (path.parent / unquote(urlsplit(src).path)).resolve()
                if not local.is_file():
                    failures.append(f"{rel}: MathJax script {src} not found at {local} (run make mathjax)")
                elif not (local.parent / "input" / "tex" / "extensions").is_dir():
                    failures.append(f"{rel}: MathJax's TeX extensions are not next to {src}: commands that "
                                    "MathJax autoloads (\\boldsymbol, \\cancel...) would fail (run make mathjax)")

    for css in sorted(html_dir.rglob("*.css")):
        text = css.read_text(encoding="utf8", errors="replace")
        for match in _REMOTE_CSS.finditer(text):
            snippet = text[match.start():match.start() + 80].split(")")[0]
            failures.append(f"{css.relative_to(html_dir)}: CSS loads from another host: {snippet}")

    # 2./3. chapters: figures from the executed notebook, no tracebacks, .ipynb download
    for chapter in chapters:
        page = _page_for(chapter, pages)
        path = html_dir / f"{page}.html"
        if path not in scans:
            failures.append(f"{page}: chapter page not built ({path})")
            continue
        scan = scans[path]
        images = [src for src in scan.output_images if src]
        broken = []
        for src in images:
            if src.startswith("data:"):
                continue
            target = (path.parent / unquote(urlsplit(src).path)).resolve()
            if not target.is_file() or target.stat().st_size == 0:
                broken.append(src)
        summary.append(f"{page}: {len(images)} figure image(s) from the executed notebook, "
                       f"{scan.figures} in numbered figures")
        if len(images) < min_figures:
            failures.append(f"{page}: {len(images)} figure image(s) from the executed notebook, expected at "
                            f"least {min_figures} (was MPLBACKEND set during the build? it must be unset)")
        for src in broken:
            failures.append(f"{page}: image {src} is missing or empty")
        if scan.tracebacks:
            failures.append(f"{page}: {scan.tracebacks} error output(s) (traceback) on the page")
        if require_ipynb:
            ipynb = html_dir / "_sources" / f"{page}.ipynb"
            if not ipynb.is_file() or ipynb.stat().st_size == 0:
                failures.append(f"{page}: no notebook download at {ipynb} "
                                "(is export_notebooks in sphinx.local_extensions of _config.yml?)")
    summary.insert(0, f"{len(html_files)} HTML page(s) scanned, {len(pages)} listed in {toc.name}")
    return failures, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the built book before publishing it.")
    parser.add_argument("html", type=Path, nargs="?", default=Path("_build/html"),
                        help="built site (default _build/html)")
    parser.add_argument("--toc", type=Path, default=None,
                        help="the book's _toc.yml (default: _toc.yml two levels above HTML, else ./_toc.yml)")
    parser.add_argument("--chapters", nargs="*", default=list(DEFAULT_CHAPTERS),
                        help="chapters that must show figures (default: %(default)s)")
    parser.add_argument("--min-figures", type=int, default=1, help="figures each chapter needs (default 1)")
    parser.add_argument("--no-ipynb", action="store_true", help="do not require the .ipynb downloads")
    args = parser.parse_args(argv)
    toc = args.toc
    if toc is None:
        guess = args.html.resolve().parent.parent / "_toc.yml"
        toc = guess if guess.is_file() else Path("_toc.yml")
    failures, summary = check_site(args.html, toc, args.chapters, args.min_figures, not args.no_ipynb)
    for line in summary:
        print(line)
    for line in failures:
        print(f"FAIL {line}", file=sys.stderr)
    if failures:
        print(f"check_site: {len(failures)} problem(s) in {args.html}", file=sys.stderr)
        return 1
    print(f"check_site: {args.html} OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
