"""Build the student edition of the book: the same sources with every exercise solution removed.

    python scripts/student_edition.py --out student            # copy the sources, strip the solutions
    python scripts/student_edition.py --out student --build    # ... and build student/_build/html

What is removed from each ``book/**/*.md``:

* every ``{solution}`` directive (sphinx-exercise), written with a backtick fence or a colon fence of any
  length, with everything inside it, nested directives and code included. The block ends where CommonMark
  (and so MyST) ends it: at the first later line that holds only a fence of the same character at least as long
  as the opening one;
* every gated solution, from a ``{solution-start}`` directive to the matching ``{solution-end}`` directive,
  including the markdown and code cells between them.

* every block of lines from a ``% student-edition: omit-start`` comment line to the next
  ``% student-edition: omit-end`` comment line, both included: text meant for the teacher's edition only
  (e.g. the root page's "the solutions are in drop-downs").

A ``{solution}`` written *inside* a literal block (``{code-cell}``, ``{code}``, a plain ```` ```markdown ````
example...) is text, not a directive, and is left alone. Each page that lost a solution gets a short note
under its title, and the root page gets a note that this is the student edition. Everything else is copied
byte for byte. Running the script again gives the same result, and so does running it on its own output.

What is copied to ``--out``: ``_config.yml`` (title marked "student edition"), ``_toc.yml``, ``book/``,
``research/`` (the notes that ``book/research/*.md`` include), ``results/`` (the committed paper-scale bundle the convergence chapter draws), the Sphinx extensions that ``_config.yml`` loads
from ``scripts/`` (``export_notebooks.py``, ``proof_index.py``, ``research_links.py``), ``_site_static/``
(the site's CSS and JS), ``_static_vendor/`` (the local MathJax, if ``make mathjax`` has run) and ``data/``
(without ``data/cache``). An existing ``--out`` folder is cleared first, except its ``_build``; a folder that this script did not create is never cleared.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER_FILE = "STUDENT_EDITION.txt"
NOTE_MARKER = "% student-edition: solutions removed"
OMIT_START = "% student-edition: omit-start"
OMIT_END = "% student-edition: omit-end"
#: Sphinx extensions in scripts/ that _config.yml loads (sphinx.local_extensions).
LOCAL_EXTENSIONS = ("export_notebooks.py", "proof_index.py", "research_links.py")
ROOT_MARKER = "% student-edition: root note"

#: Directives whose body MyST reads as literal text (a ``{solution}`` inside them is not a directive).
LITERAL_DIRECTIVES = {
    "code-cell", "code", "code-block", "sourcecode", "literalinclude", "math", "raw", "eval-rst",
    "csv-table", "parsed-literal", "mermaid", "graphviz", "glue:math",
}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[^}\s]+)\}")

STUDENT_NOTE = """\
{marker}
```{{admonition}} Student edition
:class: note

The solutions to the exercises on this page have been removed from this edition.
```
"""

ROOT_NOTE = """\
{marker}
```{{admonition}} Student edition
:class: note

This is the student edition of the book: the solutions to all exercises have been removed.
```
"""


@dataclass
class StripResult:
    """Outcome of :func:`strip_solutions` on one page."""

    text: str
    removed: int = 0
    labels: list[str] = field(default_factory=list)


def _opening(line: str):
    """Return (fence char, fence length, info string) when ``line`` opens a fence, else None."""
    match = _FENCE.match(line.rstrip("\r\n"))
    if not match:
        return None
    fence, info = match.group("fence"), match.group("info").strip()
    if fence[0] == "`" and "`" in info:  # CommonMark: a backtick fence's info string has no backtick
        return None
    return fence[0], len(fence), info


def _closes(line: str, char: str, length: int) -> bool:
    """True when ``line`` is a closing fence for an opening of ``length`` times ``char``."""
    stripped = line.strip()
    return len(stripped) >= length and set(stripped) == {char}


def _directive_name(info: str) -> str | None:
    match = _DIRECTIVE.match(info)
    return match.group("name") if match else None


def _is_literal(info: str) -> bool:
    """A fence whose content MyST does not parse as markdown (code, math, or a plain code block)."""
    name = _directive_name(info)
    return name is None or name in LITERAL_DIRECTIVES


def _skip_block(lines: list[str], start: int, char: str, length: int) -> int:
    """Index of the line after the fence block opened at ``start`` (the end of the file if unclosed)."""
    for k in range(start + 1, len(lines)):
        if _closes(lines[k], char, length):
            return k + 1
    return len(lines)


def _labels(lines: list[str], start: int) -> list[str]:
    """The ``:label:`` option of the directive opened at ``lines[start]``, if it has one."""
    out = []
    for line in lines[start + 1:start + 20]:
        stripped = line.strip()
        if not stripped.startswith(":"):
            break
        if stripped.startswith(":label:"):
            out.append(stripped[len(":label:"):].strip())
    return out


def strip_solutions(text: str) -> StripResult:
    """Remove every ``{solution}`` block and every gated solution from a MyST page.

    Returns the new text, the number of blocks removed and the labels those blocks carried. Lines outside the
    removed blocks are kept exactly (line endings included). When a removed block stood between two blank
    lines, one of them goes with it, so no run of blank lines is left behind.
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    result = StripResult(text="")
    stack: list[tuple[str, int]] = []  # open parsed directives (char, length) we are inside
    i = 0
    while i < len(lines):
        line = lines[i]
        if stack and _closes(line, *stack[-1]):
            stack.pop()
            out.append(line)
            i += 1
            continue
        opening = _opening(line)
        if opening is None:
            out.append(line)
            i += 1
            continue
        char, length, info = opening
        name = _directive_name(info)
        if name in ("solution", "solution-start"):
            end = _skip_block(lines, i, char, length)
            result.labels.extend(_labels(lines, i))
            if name == "solution-start":
                end = _gated_end(lines, end)
            result.removed += 1
            # Drop one blank line when the block sat between blank lines (or at the start).
            before_blank = not out or not out[-1].strip()
            if before_blank and end < len(lines) and not lines[end].strip():
                end += 1
            elif end >= len(lines) and out and not out[-1].strip():
                out.pop()  # the block ended the file: do not leave a trailing blank line
            i = end
            continue
        if _is_literal(info):
            end = _skip_block(lines, i, char, length)
            out.extend(lines[i:end])
            i = end
            continue
        stack.append((char, length))
        out.append(line)
        i += 1
    result.text = "".join(out)
    return result


def _gated_end(lines: list[str], start: int) -> int:
    """Index after the ``{solution-end}`` block that closes a gated solution whose start block ends at ``start``."""
    i = start
    while i < len(lines):
        opening = _opening(lines[i])
        if opening is None:
            i += 1
            continue
        char, length, info = opening
        end = _skip_block(lines, i, char, length)
        if _directive_name(info) == "solution-end":
            return end
        i = end  # skip whole blocks (code cells...) so a fence inside one is not misread
    raise ValueError("a {solution-start} directive has no matching {solution-end}")


def _title_index(lines: list[str]) -> int | None:
    """Index of the page's first ``# `` heading outside front matter and fenced blocks."""
    i = 0
    if lines and lines[0].strip() == "---":
        for k in range(1, len(lines)):
            if lines[k].strip() == "---":
                i = k + 1
                break
    while i < len(lines):
        opening = _opening(lines[i])
        if opening is not None:
            i = _skip_block(lines, i, opening[0], opening[1])
            continue
        if re.match(r"^# \S", lines[i]):
            return i
        i += 1
    return None


def add_note(text: str, note: str, marker: str) -> str:
    """Insert ``note`` after the page title (or at the top of the body); no-op when ``marker`` is present."""
    if marker in text:
        return text
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    block = [ln + newline for ln in note.format(marker=marker).splitlines()]
    at = _title_index(lines)
    if at is None:
        at = 0
        if lines and lines[0].strip() == "---":  # after front matter
            at = next((k + 1 for k in range(1, len(lines)) if lines[k].strip() == "---"), 0)
        insert = block + [newline]
    else:
        at += 1
        insert = [newline] + block
    if at > 0 and at <= len(lines) and not lines[at - 1].endswith(("\n", "\r")):
        lines[at - 1] += newline
    return "".join(lines[:at] + insert + lines[at:])


def strip_teacher_only(text: str) -> str:
    """Remove every block from an ``OMIT_START`` line to the next ``OMIT_END`` line (both included).

    A blank line left doubled by the removal is dropped. Raises ``ValueError`` on a start without an end.
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith(OMIT_START):
            end = next((k for k in range(i + 1, len(lines)) if lines[k].lstrip().startswith(OMIT_END)), None)
            if end is None:
                raise ValueError(f"'{OMIT_START}' on line {i + 1} has no matching '{OMIT_END}'")
            i = end + 1
            if out and not out[-1].strip() and i < len(lines) and not lines[i].strip():
                i += 1
            continue
        out.append(lines[i])
        i += 1
    return "".join(out)


def student_page(text: str, is_root: bool = False) -> tuple[str, StripResult]:
    """The student version of one page: solutions and teacher-only blocks removed, notes added."""
    result = strip_solutions(strip_teacher_only(text))
    new = result.text
    if result.removed:
        new = add_note(new, STUDENT_NOTE, NOTE_MARKER)
    if is_root:
        new = add_note(new, ROOT_NOTE, ROOT_MARKER)
    return new, result


def _root_page(src: Path) -> str | None:
    toc = src / "_toc.yml"
    if not toc.is_file():
        return None
    match = re.search(r"^root:\s*(\S+)", toc.read_text(encoding="utf8"), flags=re.M)
    return match.group(1) if match else None


def _clear(out: Path) -> None:
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER_FILE).is_file():
            raise SystemExit(f"refusing to clear {out}: it is not empty and was not made by this script "
                             f"(no {MARKER_FILE} in it)")
        for child in out.iterdir():
            if child.name == "_build":
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)


def make_edition(src: Path, out: Path) -> dict[str, int]:
    """Write the student edition of the book at ``src`` into ``out``. Returns {page: solutions removed}."""
    src, out = src.resolve(), out.resolve()
    if out == src or src.is_relative_to(out):
        raise SystemExit(f"--out {out} would overwrite the sources in {src}")
    _clear(out)
    (out / MARKER_FILE).write_text(
        "Student edition of the book (solutions removed), written by scripts/student_edition.py.\n"
        "This folder is rebuilt from the sources on each run: do not edit it.\n", encoding="utf8")

    config = (src / "_config.yml").read_text(encoding="utf8")
    config = re.sub(r'^(title:\s*)"(.*?)"\s*$',
                    lambda m: m.group(0) if "student edition" in m.group(2)
                    else f'{m.group(1)}"{m.group(2)} (student edition)"',
                    config, count=1, flags=re.M)
    (out / "_config.yml").write_text(config, encoding="utf8")
    shutil.copy2(src / "_toc.yml", out / "_toc.yml")
    (out / "scripts").mkdir()
    for name in LOCAL_EXTENSIONS:
        if (src / "scripts" / name).is_file():
            shutil.copy2(src / "scripts" / name, out / "scripts" / name)
    for folder in ("_static_vendor", "_site_static", "research", "results"):
        if (src / folder).is_dir():
            shutil.copytree(src / folder, out / folder)
    if (src / "data").is_dir():
        shutil.copytree(src / "data", out / "data", ignore=shutil.ignore_patterns("cache", "*.ipynb"))

    root = _root_page(src)
    report: dict[str, int] = {}
    ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__", "_build")
    shutil.copytree(src / "book", out / "book", ignore=ignore)
    for page in sorted((out / "book").rglob("*.md")):
        rel = page.relative_to(out).with_suffix("").as_posix()
        raw = page.read_bytes().decode("utf8")
        new, result = student_page(raw, is_root=(rel == root))
        if new != raw:
            page.write_bytes(new.encode("utf8"))
        report[rel] = result.removed
        dangling = [lab for lab in result.labels if re.search(re.escape(lab), new)]
        if dangling:
            print(f"warning: {rel}: removed solution label(s) still referenced: {', '.join(dangling)}",
                  file=sys.stderr)
    return report


def build(out: Path) -> int:
    """Build ``out`` with Jupyter Book into ``out/_build/html``; returns the exit status."""
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb) if jb.exists() else "jupyter-book", "build", str(out), "--all", "-W", "-n",
               "--keep-going"]
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # Agg would drop every figure
    env.setdefault("GRAPHON_PROGRESS", "0")
    print("+", " ".join(command), flush=True)
    return subprocess.call(command, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the student edition (solutions removed).")
    parser.add_argument("--out", type=Path, default=Path("student"), help="output folder (default student)")
    parser.add_argument("--src", type=Path, default=ROOT, help="repository root (default: this repository)")
    parser.add_argument("--build", action="store_true", help="also build OUT/_build/html with jupyter-book")
    args = parser.parse_args(argv)
    if not (args.src / "_config.yml").is_file() or not (args.src / "book").is_dir():
        parser.error(f"--src {args.src} has no _config.yml and book/")
    report = make_edition(args.src, args.out)
    total = sum(report.values())
    for page, removed in report.items():
        if removed:
            print(f"{page}: {removed} solution(s) removed")
    print(f"student edition written to {args.out} ({total} solution(s) removed from {len(report)} page(s))")
    if args.build:
        status = build(args.out)
        if status:
            return status
        print(f"built {args.out / '_build' / 'html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
