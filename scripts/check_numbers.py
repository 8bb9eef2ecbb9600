"""Check that every number in a chapter's captions and prose was computed by its notebook.

    python scripts/check_numbers.py _build [--captions-only] [--allow tests/typed_numbers.yaml]

For every page of the built site ``<build>/html/<page>.html`` whose notebook was executed by the build
(``<build>/jupyter_execute/<page>.ipynb``; pages without one are listed and skipped), every number in a
figure caption, a paragraph, a list item, a definition or a table cell must appear among the numbers of
the executed notebook's outputs (printed text, ``text/plain``/``text/html``/``text/markdown``/
``text/latex`` results, and the values stored by MyST-NB ``glue``, which are outputs too). The rule,
also written in ``CONTRIBUTING.md`` ("Numbers in the prose are computed"):

* **Matching.** A number written with ``d`` decimals matches an output number ``y`` when ``|x| - |y|``
  is at most half a unit of its last written digit (``0.49`` matches ``0.4873``, not ``0.4849``):
  prose may round, never invent. Signs are not compared (``falls at rate 0.49`` vs a slope
  ``-0.49``). ``1,347`` is one number; ``1.5e-6`` and ``1.5\\times 10^{-6}`` are ``1.5e-6`` to half a
  unit of ``0.1e-6``. A percentage ``12.5 %`` matches ``12.5`` or ``0.125``.
* **Not checked** (never results): text inside links (cross-references, citations with their years,
  DOIs), glued values (``span.pasted-*``: computed by construction), code (``code``, ``pre``, cell
  inputs), cell outputs other than figure captions, headings and admonition titles, caption/section
  numbers, exercise and solution blocks (they propose other parameters and quote other runs), and
  pages without an executed notebook.
* **Exempt numbers.** Integers ``0..20`` (counts, indices and constants of formulas: ``k = 2``, depth
  ``3``, ``n^{-1/2}``, ``10^{-6}``), unless followed by ``%`` or a multiplication sign (``3x``, ``3×``:
  a measured ratio); numbers that name a numbered thing after a keyword (``Theorem 4.7``, ``Figs 1, 3
  and 5``, ``Section 6``, ``Eq. (3)``, ``Table 2``, ``Lemma 5.6``, ``arXiv 2602.06675``, ``ICML 2026``,
  ``page 12``); digits inside a word or name (``float32``, ``L2``, ``x_1``); and the entries of the allow
  list (``--allow``): numbers quoted from the paper or elsewhere, each with the page, a phrase of its
  paragraph and a reason.

Every other number (every decimal; integers above 20, e.g. a width ``n = 400``, unless the notebook
prints it) must be found. Failures print as ``FAIL <page> [<where>] <number>: <context>``; exit status
1 when any page fails, 0 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import yaml

SMALL_INT = 20  # integers 0..SMALL_INT are exempt (see the module docstring)
KEYWORDS = (
    r"theorems?|thms?|lemmas?|lem|figures?|figs?|sections?|secs?|equations?|eqs?|tables?|tabs?"
    r"|corollary|corollaries|cor|propositions?|props?|definitions?|defs?|assumptions?|appendix|appendices"
    r"|app|chapters?|ch|remarks?|examples?|exercises?|algorithms?|alg|steps?|arxiv|pages?|icml"
    r"|neurips|iclr|colt|aistats|jmlr|version"
)
# a keyword, then one or more numbered things: "Figs 1, 3 and 5", "Eq. (3)", "Thm 4.7", "Section 6.1(b)"
_REF = re.compile(
    rf"(?:\b(?:{KEYWORDS})\.?|§)\s*~?\(?\d+(?:\.\d+)*[a-z]?\)?"
    r"(?:\s*(?:,|and|&|or|to|–|—|-)\s*§?\(?\d+(?:\.\d+)*[a-z]?\)?)*",
    re.I,
)
_TEX_SCI = re.compile(r"(\d+(?:\.\d+)?)\s*\\(?:times|cdot)\s*10\^\{?\s*([-−]?\d+)\s*\}?")
_NUM = re.compile(
    r"(?<![\w.\\])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+−]?\d+)?(?![\w])"
)
_AFTER_RATIO = re.compile(r"\s*(?:%|\\%|×|x\b|\\times(?!\s*10\^))")
_OUT_NUM = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|(?<![\w.])\.\d+(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Token:
    """A number as written: its value, the half-unit of its last digit, and whether it is a percentage."""

    text: str
    value: float
    half_unit: float
    percent: bool = False


def parse_number(text: str, exponent: int = 0, percent: bool = False) -> Token:
    """A :class:`Token` for ``text`` (``"0.49"``, ``"1,347"``, ``"1.5e-6"``) times ``10**exponent``."""
    mant = text.replace(",", "").replace("−", "-")
    exp = exponent
    m = re.match(r"([-+]?\d*\.?\d+)[eE]([-+]?\d+)$", mant)
    if m:
        mant, exp = m.group(1), exp + int(m.group(2))
    decimals = len(mant.split(".", 1)[1]) if "." in mant else 0
    value = abs(float(mant)) * 10.0**exp
    return Token(text, value, 0.5 * 10.0 ** (exp - decimals), percent)


def prose_numbers(text: str, math_mode: bool = False) -> list[Token]:
    """The numbers of ``text`` that must be found in the outputs (exemptions of the module docstring
    applied). ``math_mode``: the text is TeX (``\\times 10^{k}`` is read as an exponent)."""
    text = _REF.sub(" ", text)
    tokens: list[Token] = []
    if math_mode:
        def sci(m: re.Match) -> str:
            tokens.append(parse_number(m.group(1), int(m.group(2).replace("−", "-"))))
            return " "

        text = _TEX_SCI.sub(sci, text)
    for m in _NUM.finditer(text):
        raw = m.group(0)
        after = text[m.end():m.end() + 12]
        ratio = bool(_AFTER_RATIO.match(after))
        percent = bool(re.match(r"\s*\\?%", after))
        tok = parse_number(raw, percent=percent)
        is_int = "." not in raw and "e" not in raw.lower()
        if is_int and tok.value <= SMALL_INT and not ratio:
            continue
        tokens.append(tok)
    return tokens


class OutputNumbers:
    """The absolute values of every number in a notebook's outputs, sorted, for half-unit look-ups."""

    def __init__(self, values: list[float]) -> None:
        self.values = sorted({abs(v) for v in values if math.isfinite(v)})

    @classmethod
    def from_notebook(cls, path: str | Path) -> OutputNumbers:
        nb = json.loads(Path(path).read_text())
        texts = []
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "code":
                continue
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    texts.append(_join(out.get("text", "")))
                for mime, data in (out.get("data") or {}).items():
                    if mime in ("text/plain", "text/html", "text/markdown", "text/latex"):
                        texts.append(re.sub(r"<[^>]+>", " ", _join(data)) if mime == "text/html"
                                     else _join(data))
        values = []
        for t in texts:
            for m in _OUT_NUM.finditer(t.replace("−", "-")):
                try:
                    values.append(float(m.group(0)))
                except ValueError:
                    continue
        return cls(values)

    def contains(self, tok: Token) -> bool:
        pairs = [(tok.value, tok.half_unit)]
        if tok.percent:
            pairs.append((tok.value / 100.0, tok.half_unit / 100.0))
        for target, half in pairs:
            slack = half * (1 + 1e-9) + 1e-15 * target
            i = bisect.bisect_left(self.values, target - slack)
            if i < len(self.values) and self.values[i] <= target + slack:
                return True
        return False


def _join(x) -> str:
    return "".join(x) if isinstance(x, list) else str(x)


# --------------------------------------------------------------------------- the HTML side


@dataclass
class Passage:
    """A run of prose text: where it is (``caption fig-x`` / ``paragraph``), its text, its math."""

    where: str
    text: str = ""
    math: list[str] = field(default_factory=list)
    display: str = ""  # text and math in reading order (for the failure's context)


_SKIP_TAGS = {"a", "code", "pre", "script", "style", "nav", "header", "footer", "h1", "h2", "h3", "h4",
              "h5", "h6", "kbd", "samp", "button", "select", "option", "title", "head"}
_SKIP_CLASSES = {"cell_input", "caption-number", "section-number", "admonition-title", "exercise",
                 "solution", "headerlink", "toctree-wrapper", "bd-sidebar-primary", "bd-sidebar-secondary",
                 "prev-next-area", "footnote", "citation", "bibliography", "docutils-footnote"}
_PROSE_TAGS = {"p", "li", "dd", "dt", "td", "th", "figcaption", "caption", "blockquote"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "source", "col", "area", "base", "wbr", "embed",
         "param", "track"}


class _Extractor(HTMLParser):
    """Collect the prose passages of a page (see the module docstring for what is skipped)."""

    def __init__(self, captions_only: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.captions_only = captions_only
        self.passages: list[Passage] = []
        # per open element: (tag, skip, in_output, in_caption, in_math)
        self.stack: list[tuple[str, bool, bool, bool, bool]] = []
        self.current: Passage | None = None
        self.depth_of_current = -1
        self.figure_id: list[str] = []

    def _state(self):
        return self.stack[-1][1:] if self.stack else (False, False, False, False)

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            return
        a = {k: (v or "") for k, v in attrs}
        classes = set(a.get("class", "").split())
        skip, in_output, in_caption, in_math = self._state()
        if tag == "figure":
            self.figure_id.append(a.get("id", ""))
        skip = skip or tag in _SKIP_TAGS or bool(classes & _SKIP_CLASSES) or any(
            c.startswith("pasted-") for c in classes)
        in_output = in_output or "cell_output" in classes
        in_caption = in_caption or tag == "figcaption"
        starts_math = "math" in classes and tag in ("span", "div") and not in_math
        self.stack.append((tag, skip, in_output, in_caption, in_math or starts_math))
        if skip or self.current is not None:
            if starts_math and not skip and self.current is not None:
                self.current.math.append("")
            return
        if in_output and not in_caption:
            return
        if self.captions_only and not in_caption:
            return
        if tag in _PROSE_TAGS or starts_math:  # a paragraph, a caption, or a display-math block
            where = ("math block" if starts_math else
                     f"caption {self.figure_id[-1] or '(figure)'}" if in_caption and self.figure_id
                     else "caption" if in_caption else tag)
            self.current = Passage(where, math=[""] if starts_math else [])
            self.depth_of_current = len(self.stack)

    def handle_endtag(self, tag):
        if tag in _VOID or not self.stack:
            return
        # pop to the matching tag (tolerates unclosed inner tags)
        idx = max((i for i, s in enumerate(self.stack) if s[0] == tag), default=None)
        if idx is None:
            return
        while len(self.stack) > idx:
            t = self.stack.pop()[0]
            if t == "figure" and self.figure_id:
                self.figure_id.pop()
            if self.current is not None and len(self.stack) < self.depth_of_current:
                if self.current.text.strip() or any(m.strip() for m in self.current.math):
                    self.passages.append(self.current)
                self.current = None
                self.depth_of_current = -1

    def handle_data(self, data):
        if self.current is None:
            return
        skip, _o, _c, in_math = self._state()
        if skip:
            return
        self.current.display += data
        if in_math and self.current.math:
            self.current.math[-1] += data
        else:
            self.current.text += data


def page_passages(html: str, captions_only: bool = False) -> list[Passage]:
    """The prose passages of one built page (captions first-class; paragraphs unless ``captions_only``)."""
    parser = _Extractor(captions_only)
    parser.feed(html)
    parser.close()
    return parser.passages


# --------------------------------------------------------------------------- allow list, pages


@dataclass(frozen=True)
class Allowed:
    page: str
    number: str
    context: str
    reason: str


def load_allow(path: str | Path | None) -> list[Allowed]:
    """Read the allow list: a YAML list of ``{page, number, context, reason}`` (all required)."""
    if path is None or not Path(path).is_file():
        return []
    data = yaml.safe_load(Path(path).read_text()) or []
    out = []
    for i, e in enumerate(data):
        if not isinstance(e, dict) or not all(str(e.get(k, "")).strip() for k in
                                              ("page", "number", "context", "reason")):
            raise ValueError(f"{path}: entry {i} needs page, number, context and reason")
        out.append(Allowed(str(e["page"]), str(e["number"]), str(e["context"]), str(e["reason"])))
    return out


@dataclass
class Finding:
    page: str
    where: str
    number: str
    context: str


def _context(text: str, number: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    i = flat.find(number)
    if i < 0:
        return flat[: 2 * width] + ("…" if len(flat) > 2 * width else "")
    lo, hi = max(0, i - width), min(len(flat), i + len(number) + width)
    return ("…" if lo else "") + flat[lo:hi] + ("…" if hi < len(flat) else "")


def check_page(html: str, outputs: OutputNumbers, page: str, allow: list[Allowed] = (),
               captions_only: bool = False) -> list[Finding]:
    """Numbers of one page's prose not found among ``outputs`` (nor allowed for ``page``)."""
    found = []
    for p in page_passages(html, captions_only):
        flat = " ".join(p.display.split())
        tokens = prose_numbers(p.text) + [t for m in p.math for t in prose_numbers(m, math_mode=True)]
        for tok in tokens:
            if outputs.contains(tok):
                continue
            if any(a.page == page and a.number == tok.text and a.context in flat for a in allow):
                continue
            found.append(Finding(page, p.where, tok.text, _context(p.display, tok.text)))
    return found


def notebook_for(build: Path, page: Path) -> Path | None:
    """The executed notebook of an HTML page (``jupyter_execute/<page>.ipynb``), if the build made one."""
    cand = build / "jupyter_execute" / page.relative_to(build / "html").with_suffix(".ipynb")
    return cand if cand.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="the build folder (holds html/ and jupyter_execute/)")
    parser.add_argument("--captions-only", action="store_true", help="check figure captions only")
    parser.add_argument("--allow", type=Path,
                        default=Path(__file__).resolve().parents[1] / "tests" / "typed_numbers.yaml",
                        help="allow list of typed numbers (page, number, context, reason)")
    args = parser.parse_args(argv)
    html_dir = args.build / "html"
    if not html_dir.is_dir():
        print(f"error: {html_dir} does not exist (build the book first)", file=sys.stderr)
        return 2
    try:
        allow = load_allow(args.allow)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failing, checked, skipped = {}, [], []
    for page in sorted(html_dir.rglob("*.html")):
        if page.relative_to(html_dir).parts[0] in ("_static", "_sources", "_images"):
            continue
        nb = notebook_for(args.build, page)
        name = page.relative_to(html_dir).with_suffix("").as_posix()
        if nb is None:
            skipped.append(name)
            continue
        checked.append(name)
        findings = check_page(page.read_text(encoding="utf-8"), OutputNumbers.from_notebook(nb), name,
                              allow, args.captions_only)
        for f in findings:
            print(f"FAIL {f.page} [{f.where}] {f.number}: {f.context}")
        if findings:
            failing[name] = findings
    what = "captions" if args.captions_only else "captions and prose"
    print(f"\nchecked the {what} of {len(checked)} pages with an executed notebook: "
          f"{', '.join(checked) or 'none'}; skipped (no notebook): {', '.join(skipped) or 'none'}")
    if failing:
        for name, fs in failing.items():
            n_cap = sum(f.where.startswith("caption") for f in fs)
            print(f"FAIL {name}: {len(fs)} typed numbers ({n_cap} in captions)")
        print("Each number must come from the notebook: glue it (myst_nb glue + {glue:text}), print it, "
              "or, if it is quoted from elsewhere, add it to the allow list with a reason.")
        return 1
    print("ok: every number is computed by its notebook")
    return 0


if __name__ == "__main__":
    sys.exit(main())
