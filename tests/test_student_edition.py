"""Tests of scripts/student_edition.py: solutions are stripped, nothing else changes, and it is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]


se = load_script("student_edition")

HEADER = """\
---
jupytext:
  formats: md:myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

"""

EXERCISE = """\
```{exercise}
:label: ex-demo-1

Show that $\\rho n$ edges are kept.
```
"""


def strip(text: str) -> str:
    return se.strip_solutions(text).text


def test_backtick_solution_removed_exercise_kept():
    page = "# Title\n\n" + EXERCISE + "\n```{solution} ex-demo-1\n:class: dropdown\n\nBecause.\n```\n\nAfter.\n"
    result = se.strip_solutions(page)
    assert result.removed == 1
    assert "{solution}" not in result.text and "Because." not in result.text
    assert EXERCISE in result.text
    assert result.text == "# Title\n\n" + EXERCISE + "\nAfter.\n"


@pytest.mark.parametrize("fence", [":::", "::::", ":::::"])
def test_colon_fence_solution_removed(fence):
    page = f"Before.\n\n{fence}{{solution}} ex-demo-1\n:class: dropdown\nSecret.\n{fence}\n\nAfter.\n"
    assert strip(page) == "Before.\n\nAfter.\n"


def test_nested_directives_inside_solution():
    page = (
        "Intro.\n\n"
        "`````{solution} ex-demo-1\n"
        ":class: dropdown\n\n"
        "````{admonition} Hint\n"
        "```{code-block} python\n"
        "print('inner')\n"
        "```\n"
        "````\n\n"
        ":::{note}\nA colon-fenced note.\n:::\n"
        "`````\n\n"
        "Outro.\n"
    )
    assert strip(page) == "Intro.\n\nOutro.\n"


def test_colon_solution_with_nested_colon_directive():
    page = "A.\n\n::::{solution} ex-demo-1\n:::{note}\nInner.\n:::\nStill solution.\n::::\n\nB.\n"
    assert strip(page) == "A.\n\nB.\n"


def test_solution_nested_in_a_parsed_directive_is_removed():
    page = (
        "````{exercise}\n:label: ex-demo-2\n\nQuestion.\n\n"
        "```{solution} ex-demo-2\n:class: dropdown\nAnswer.\n```\n"
        "````\n"
    )
    out = strip(page)
    assert "Answer." not in out and "Question." in out
    assert out.endswith("````\n")


def test_solution_text_inside_literal_blocks_is_kept():
    page = (
        "How to write a solution:\n\n"
        "````markdown\n```{solution} ex-demo-1\nThis is an example, not a solution.\n```\n````\n\n"
        "````{code-cell} ipython3\ns = '''\n```{solution} x\n```\n'''\n````\n\n"
        "```\n```{solution}\n```\n"
    )
    assert strip(page) == page


def test_gated_solution_with_code_cell_removed():
    page = (
        HEADER + "# Title\n\n" + EXERCISE + "\n"
        "```{solution-start} ex-demo-1\n:class: dropdown\n```\n\n"
        "Some text.\n\n"
        "```{code-cell} ipython3\n# not a heading\nx = 1\n```\n\n"
        "```{solution-end}\n```\n\n"
        "Next section.\n"
    )
    out = strip(page)
    assert out == HEADER + "# Title\n\n" + EXERCISE + "\nNext section.\n"


def test_unclosed_gated_solution_raises():
    with pytest.raises(ValueError, match="solution-end"):
        strip("```{solution-start} ex\n```\n\ntext\n")


def test_nothing_else_changed_and_labels_reported():
    body = (
        HEADER + "# Chapter\n\nText with `code` and $x$.\n\n" + EXERCISE + "\n"
        "```{solution} ex-demo-1\n:label: sol-demo-1\n:class: dropdown\n\nAnswer.\n```\n\n"
        "```{code-cell} ipython3\n:tags: [parameters]\ndensity: float = 0.2  # density\n```\n\n"
        "Closing paragraph.\n"
    )
    result = se.strip_solutions(body)
    expected = body.replace(
        "```{solution} ex-demo-1\n:label: sol-demo-1\n:class: dropdown\n\nAnswer.\n```\n\n", "")
    assert result.text == expected
    assert result.labels == ["sol-demo-1"]


def test_page_without_solutions_is_unchanged():
    page = HEADER + "# Chapter\n\n" + EXERCISE + "\nNo solution here.\n"
    new, result = se.student_page(page)
    assert new == page and result.removed == 0


def test_crlf_line_endings_kept():
    page = "# T\r\n\r\nText.\r\n\r\n```{solution} ex\r\nA.\r\n```\r\n\r\nEnd.\r\n"
    new, _ = se.student_page(page)
    assert "A." not in new
    assert "\n" not in new.replace("\r\n", "")  # no bare LF introduced
    assert new.endswith("End.\r\n")


def test_trailing_solution_leaves_no_trailing_blank_line():
    page = "# T\n\n" + EXERCISE + "\n```{solution} ex-demo-1\nA.\n```\n"
    assert strip(page) == "# T\n\n" + EXERCISE


def test_note_added_once_under_the_title():
    page = HEADER + "# Chapter\n\n" + EXERCISE + "\n```{solution} ex-demo-1\nA.\n```\n\nEnd.\n"
    once, result = se.student_page(page)
    assert result.removed == 1
    assert once.count(se.NOTE_MARKER) == 1
    title_at = once.index("# Chapter\n")
    assert title_at < once.index(se.NOTE_MARKER) < once.index("{exercise}")
    assert once.startswith(HEADER)  # front matter untouched
    twice, again = se.student_page(once)
    assert twice == once and again.removed == 0


def test_strip_is_idempotent():
    page = "A.\n\n```{solution} x\nB.\n```\n\n:::{solution} y\nC.\n:::\n\nD.\n"
    once = strip(page)
    assert strip(once) == once == "A.\n\nD.\n"


def _fake_repo(root: Path) -> Path:
    (root / "book" / "sub").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "_config.yml").write_text('title: "My book"\nauthor: me\n')
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/ch\n")
    (root / "book" / "intro.md").write_text("# Intro\n\nWelcome.\n")
    (root / "book" / "ch.md").write_text(
        HEADER + "# Ch\n\n" + EXERCISE + "\n```{solution} ex-demo-1\n:class: dropdown\nA.\n```\n\nEnd.\n")
    (root / "book" / "sub" / "plain.md").write_text("# Plain\n\n```{solution-like}\nkept\n```\n")
    (root / "book" / "references.bib").write_text("@misc{k, title={T}}\n")
    (root / "book" / "ch.ipynb").write_text("{}")  # paired notebooks are not copied
    (root / "scripts" / "export_notebooks.py").write_text("def setup(app):\n    return {}\n")
    return root


def test_make_edition_on_a_fake_repo(tmp_path):
    src = _fake_repo(tmp_path / "src")
    out = tmp_path / "student"
    report = se.make_edition(src, out)
    assert report == {"book/intro": 0, "book/ch": 1, "book/sub/plain": 0}
    assert (out / se.MARKER_FILE).is_file()
    assert (out / "_config.yml").read_text().startswith('title: "My book (student edition)"')
    assert (out / "_toc.yml").read_bytes() == (src / "_toc.yml").read_bytes()
    assert (out / "book" / "references.bib").read_bytes() == (src / "book" / "references.bib").read_bytes()
    assert (out / "book" / "sub" / "plain.md").read_bytes() == (src / "book" / "sub" / "plain.md").read_bytes()
    assert (out / "scripts" / "export_notebooks.py").is_file()
    assert not (out / "book" / "ch.ipynb").exists()
    chapter = (out / "book" / "ch.md").read_text()
    assert "{solution}" not in chapter and "{exercise}" in chapter and se.NOTE_MARKER in chapter
    intro = (out / "book" / "intro.md").read_text()
    assert se.ROOT_MARKER in intro and intro.startswith("# Intro\n")

    # Idempotent: a second run, and a run on the edition itself, give the same files.
    snapshot = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    (out / "_build").mkdir()
    (out / "_build" / "keep.txt").write_text("build output survives")
    se.make_edition(src, out)
    again = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*"))
             if p.is_file() and "_build" not in p.parts}
    assert again == snapshot
    assert (out / "_build" / "keep.txt").is_file()
    out2 = tmp_path / "student2"
    se.make_edition(out, out2)
    for rel in ("book/ch.md", "book/intro.md"):
        assert (out2 / rel).read_bytes() == (out / rel).read_bytes()


def test_refuses_to_clear_a_foreign_folder(tmp_path):
    src = _fake_repo(tmp_path / "src")
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("do not delete")
    with pytest.raises(SystemExit, match="refusing"):
        se.make_edition(src, out)
    assert (out / "thesis.tex").read_text() == "do not delete"
    with pytest.raises(SystemExit, match="overwrite"):
        se.make_edition(src, src)


def test_cli_on_the_real_book(tmp_path):
    """The real book: every solution goes, every exercise stays, other pages are byte-identical."""
    out = tmp_path / "student"
    assert se.main(["--out", str(out)]) == 0
    for page in sorted((ROOT / "book").rglob("*.md")):
        rel = page.relative_to(ROOT)
        original = page.read_text(encoding="utf8")
        student = (out / rel).read_text(encoding="utf8")
        assert se.strip_solutions(student).removed == 0, f"{rel}: a solution is left"
        assert student.count("{exercise}") == original.count("{exercise}"), f"{rel}: exercise lost"
        if se.strip_solutions(original).removed == 0 and rel.as_posix() != "book/intro.md":
            assert (out / rel).read_bytes() == page.read_bytes(), f"{rel} changed"


# --- teacher-only blocks (% student-edition: omit-start ... omit-end) ---

def test_teacher_only_block_is_removed_and_the_rest_kept():
    page = ("# Intro\n\n* a\n* b\n\n" + se.OMIT_START + " (why)\nSolutions are in drop-downs.\n"
            + se.OMIT_END + "\n\nAfter.\n")
    assert se.strip_teacher_only(page) == "# Intro\n\n* a\n* b\n\nAfter.\n"
    assert se.strip_teacher_only(se.strip_teacher_only(page)) == se.strip_teacher_only(page)
    with pytest.raises(ValueError, match="no matching"):
        se.strip_teacher_only("x\n" + se.OMIT_START + "\ny\n")


def test_student_intro_does_not_promise_solution_drop_downs(tmp_path):
    """The real root page: the teacher's sentence about drop-downs is gone from the student edition."""
    original = (ROOT / "book" / "intro.md").read_text(encoding="utf8")
    assert se.OMIT_START in original and "drop-down" in original
    student, _ = se.student_page(original, is_root=True)
    assert "drop-down" not in student and "dropdown" not in student
    assert se.OMIT_START not in student and se.ROOT_MARKER in student


def test_edition_copies_what_the_config_loads(tmp_path):
    src = _fake_repo(tmp_path / "src")
    (src / "research").mkdir()
    (src / "research" / "paper.md").write_text("# Notes\n")
    (src / "_site_static").mkdir()
    (src / "_site_static" / "graphon-site.css").write_text("body {}\n")
    (src / "scripts" / "proof_index.py").write_text("def setup(app):\n    return {}\n")
    out = tmp_path / "student"
    se.make_edition(src, out)
    for rel in ("research/paper.md", "_site_static/graphon-site.css", "scripts/proof_index.py",
                "scripts/export_notebooks.py"):
        assert (out / rel).read_bytes() == (src / rel).read_bytes(), rel
    # every local extension named in the real _config.yml is one the edition copies
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    names = {f"{name}.py" for name in config["sphinx"]["local_extensions"]}
    assert names <= set(se.LOCAL_EXTENSIONS)
