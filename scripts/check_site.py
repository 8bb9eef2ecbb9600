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
   exists, and so does the folder of TeX extensions it autoloads (``input/tex/extensions``);
6. the folder is publishable as it is (``make publish`` pushes exactly this folder): no ``href``/``src`` is an
   absolute path (``/...`` breaks on a project site served under ``/<repository>/``) or a ``file:`` address, no
   page contains the absolute path of the folder the book was built in or a ``site-packages/`` path (a warning
   with the builder's local paths, as tqdm's ``TqdmWarning`` once was), and every local link
   (``<a href>``, ``<link href>``, ``src``) points to a file that exists;
7. no page shows a cell's stderr (myst-nb's ``output stderr`` block): the build's ``nb_output_stderr: warn``
   fails on it, and this catches a site built without that setting;
8. the indices are not empty shells: a ``genindex.html``, if present, has entries, and the proof index
   (``prf-prf.html``, see ``scripts/proof_index.py``) names its entries by title, not by raw label;
9. figure captions are short and their maths typeset: at most ``--max-caption-words`` words (default 80, not
   counting typeset maths; the discussion belongs in the text), and no ASCII pseudo-maths outside ``$...$``:
   ``>=``, ``<=``, ``!=``, ``x^2``, ``x_i``, ``sqrt(``, ``tau*``, or a Greek letter spelt out (``rho``, ``tau``...).

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

    local_refs: list[str] = field(default_factory=list)  # every href/src that is not remote, mailto:...
    stderr_outputs: int = 0
    index_entries: list[tuple[str, str]] = field(default_factory=list)  # (href, text) of <code class="xref">
    captions: list[str] = field(default_factory=list)  # <figcaption> text, typeset maths left out
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
        self._last_href = ""
        self._xref_text: str | None = None
        self._caption: list[str] | None = None
        self._skip_tag: str | None = None
        self._skip_depth = 0

    def _inside(self) -> tuple[bool, bool]:
        return (self._stack[-1][1], self._stack[-1][2]) if self._stack else (False, False)

    def handle_starttag(self, tag, attrs):
        attrs_d = {k: (v or "") for k, v in attrs}
        classes = set(attrs_d.get("class", "").split())
        in_output, in_figure = self._inside()
        in_output = in_output or "cell_output" in classes
        if "traceback" in classes and "output" in classes:
            self.scan.tracebacks += 1
        if "stderr" in classes and "output" in classes:
            self.scan.stderr_outputs += 1
        for attr in ("href", "src"):
            value = attrs_d.get(attr, "").strip()
            if value and not is_remote(value) and urlsplit(value).scheme not in _NON_FILE_SCHEMES:
                self.scan.local_refs.append(value)
        if tag == "a":
            self._last_href = attrs_d.get("href", "")
        if tag == "code" and "xref" in classes:
            self._xref_text = ""
        if tag == "figcaption":
            self._caption = []
        if self._caption is not None:
            if self._skip_tag is None and (tag == "code" or "math" in classes):
                self._skip_tag, self._skip_depth = tag, 0  # typeset maths and code are not caption prose
            if tag == self._skip_tag:
                self._skip_depth += 1
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

    def handle_data(self, data):
        if self._xref_text is not None:
            self._xref_text += data
        if self._caption is not None and self._skip_tag is None:
            self._caption.append(data)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._stack and self._stack[-1][0] == tag:
            self._stack.pop()

    def handle_endtag(self, tag):
        if tag == self._skip_tag:
            self._skip_depth -= 1
            if self._skip_depth == 0:
                self._skip_tag = None
        if tag == "figcaption" and self._caption is not None:
            self.scan.captions.append(" ".join("".join(self._caption).split()))
            self._caption = None
        if tag == "code" and self._xref_text is not None:
            self.scan.index_entries.append((self._last_href, self._xref_text.strip()))
            self._xref_text = None
        # Pop up to the matching open tag (tolerates unclosed <p>, <li>...).
        for k in range(len(self._stack) - 1, -1, -1):
            if self._stack[k][0] == tag:
                del self._stack[k:]
                return


ASCII_MATHS = re.compile(
    r">=|<=|!=|\bsqrt\(|\b[A-Za-z]\^[-\w({]|\b[A-Za-z]_[\w{]|\b(tau|rho|alpha|beta|gamma|delta|lambda|sigma|xi|"
    r"pi|theta|epsilon)\b\*?|\b[a-z]\*(?=\W|$)")
_NON_FILE_SCHEMES = {"mailto", "data", "javascript", "tel", "blob", "about"}
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
               require_ipynb: bool = True, max_caption_words: int = 80) -> tuple[list[str], list[str]]:
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
    # The folder the book was built in (html_dir is <book>/_build/html) and any interpreter's packages.
    local_paths = ["site-packages/"]
    book_root = html_dir.resolve().parent.parent
    if len(book_root.parts) > 2:  # not "/" or "/x": too short to be a meaningful needle
        local_paths.append(str(book_root) + "/")
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

        # 6. publishable as it is: relative links only, no local paths, no dangling local link
        template = rel.startswith("_static/")  # the themes' Jinja macro files: not pages
        for ref in sorted(set(scan.local_refs)) if not template else []:
            target = urlsplit(ref)
            if target.scheme == "file" or ref.startswith("/"):
                failures.append(f"{rel}: absolute address {ref!r} (breaks once published; use a relative link)")
                continue
            if not target.path:
                continue  # "#anchor" or "?query" on the same page
            local = (path.parent / unquote(target.path)).resolve()
            if not local.exists():
                failures.append(f"{rel}: links to {ref!r}, which is not in the site")
        for needle in local_paths:
            if needle in text:
                failures.append(f"{rel}: contains the local path {needle!r} (a warning or a path of the machine "
                                "that built the book leaked into the page)")
        # 7. no stderr on a page
        if scan.stderr_outputs:
            failures.append(f"{rel}: {scan.stderr_outputs} stderr output(s) of an executed cell on the page "
                            "(a warning or a progress bar; remove it at its source)")

        # 9. short captions with typeset maths
        for caption in scan.captions:
            words = len(caption.split())
            if words > max_caption_words:
                failures.append(f"{rel}: a caption of {words} words (at most {max_caption_words}; put the "
                                f"discussion in the text): {caption[:70]!r}...")
            for match in sorted({m.group(0) for m in ASCII_MATHS.finditer(caption)}):
                failures.append(f"{rel}: ASCII maths {match!r} in a caption (typeset it: $...$): "
                                f"{caption[:70]!r}...")

    # 8. indices with content
    genindex = html_dir / "genindex.html"
    if genindex.is_file() and "genindextable" not in genindex.read_text(encoding="utf8", errors="replace"):
        failures.append("genindex.html: the general index is empty (set html_use_index: false, or add entries)")
    proof_index = html_dir / "prf-prf.html"
    if proof_index in scans:
        for href, text in scans[proof_index].index_entries:
            anchor = urlsplit(href).fragment
            if anchor and text == anchor:
                failures.append(f"prf-prf.html: the proof index names an entry by its raw label {text!r} "
                                "(is proof_index in the extensions of _config.yml?)")

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
    parser.add_argument("--max-caption-words", type=int, default=80,
                        help="longest figure caption allowed, in words, maths excluded (default 80)")
    args = parser.parse_args(argv)
    toc = args.toc
    if toc is None:
        guess = args.html.resolve().parent.parent / "_toc.yml"
        toc = guess if guess.is_file() else Path("_toc.yml")
    failures, summary = check_site(args.html, toc, args.chapters, args.min_figures, not args.no_ipynb,
                                   args.max_caption_words)
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
