"""book/paper_map.md must agree with the chapters it describes.

* every `name=value` in the "book: live build" column is the default of that name in the chapter's
  parameters cell, and every `name=value` in the "book: paper scale" column is the value in the chapter's
  `paper` preset (book/presets/<chapter>-paper.yaml);
* the table of preset values lists every key of every `paper` preset, with the preset's value;
* each row's status is one of the four words the page defines; a figure claimed "reproduced at scale" needs
  the committed bundle results/paper/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
PAGE = BOOK / "paper_map.md"
CHAPTERS = ("convergence", "expressivity", "generalisation")
STATUSES = {"reproduced at scale", "smaller", "reconstructed", "not available"}
SETTING = re.compile(r"`([a-z_]+)=([^`]+)`")
PARAM_LINE = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)\s*:\s*[^=]+=\s*(?P<value>.+?)\s*(#.*)?$")


def parameters_cell(chapter: str) -> dict:
    """Defaults of the chapter's parameters cell (CONTRIBUTING's grammar: `name: type = literal  # ...`)."""
    text = (BOOK / f"{chapter}.md").read_text(encoding="utf8")
    block = re.search(r"```\{code-cell\}[^\n]*\n:tags: \[parameters\]\n(.*?)```", text, flags=re.S)
    assert block, f"book/{chapter}.md: no parameters cell"
    values = {}
    for line in block.group(1).splitlines():
        match = PARAM_LINE.match(line.strip())
        if match:
            values[match["name"]] = ast.literal_eval(match["value"])
    return values


def preset(chapter: str) -> dict:
    return yaml.safe_load((BOOK / "presets" / f"{chapter}-paper.yaml").read_text(encoding="utf8"))


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """Cells of the markdown table whose header line starts with ``header_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def settings(cell: str) -> dict:
    return {name: ast.literal_eval(value) for name, value in SETTING.findall(cell)}


def row_chapter(cell: str) -> str | None:
    match = re.search(r"\{doc\}`(\w+)`", cell)
    return match.group(1) if match and match.group(1) in CHAPTERS else None


@pytest.fixture(scope="module")
def main_rows():
    rows = table_rows(PAGE.read_text(encoding="utf8"), "| paper | book counterpart |")
    assert len(rows) >= 10
    return rows


def test_live_build_and_preset_columns_match_the_chapters(main_rows):
    problems = []
    checked = 0
    for paper, counterpart, _paper_settings, live, scale, _status in main_rows:
        chapter = row_chapter(counterpart)
        if chapter is None:
            assert not settings(live) and not settings(scale), f"row {paper!r}: settings but no chapter link"
            continue
        defaults, paper_preset = parameters_cell(chapter), preset(chapter)
        for name, value in settings(live).items():
            checked += 1
            if defaults.get(name, "<missing>") != value:
                problems.append(f"{paper} ({chapter}): live build says {name}={value!r}, the parameters cell "
                                f"says {defaults.get(name, '<no such parameter>')!r}")
        for name, value in settings(scale).items():
            checked += 1
            if paper_preset.get(name, "<missing>") != value:
                problems.append(f"{paper} ({chapter}): paper scale says {name}={value!r}, the preset says "
                                f"{paper_preset.get(name, '<no such key>')!r}")
    assert checked >= 20
    assert not problems, "book/paper_map.md is out of date:\n  " + "\n  ".join(problems)


def test_every_row_has_one_status_and_scale_claims_have_results(main_rows):
    for row in main_rows:
        assert row[-1] in STATUSES, f"row {row[0]!r}: status {row[-1]!r} is not one of {sorted(STATUSES)}"
    claimed = [row[0] for row in main_rows if row[-1] == "reproduced at scale"]
    if claimed and not (ROOT / "results" / "paper").is_dir():
        pytest.skip(f"{len(claimed)} row(s) say 'reproduced at scale' but results/paper/ is not in this "
                    "checkout (the convergence bundle is committed separately)")


def test_the_preset_table_lists_every_preset_value_with_its_source():
    rows = table_rows(PAGE.read_text(encoding="utf8"), "| chapter | parameter | `paper` preset | source |")
    listed: dict[str, dict] = {chapter: {} for chapter in CHAPTERS}
    for chapter, name, value, source in rows:
        assert source, f"{chapter} {name}: no source"
        listed[chapter][name.strip("`")] = ast.literal_eval(value.strip("`"))
    for chapter in CHAPTERS:
        assert listed[chapter] == preset(chapter), (
            f"book/paper_map.md's table of preset values differs from book/presets/{chapter}-paper.yaml")


def test_intro_and_toc_link_the_page():
    assert "{doc}`paper_map`" in (BOOK / "intro.md").read_text(encoding="utf8")
    assert "book/paper_map" in (ROOT / "_toc.yml").read_text(encoding="utf8")
