"""``python -m graphon run|list``: real runs of the fixture chapter, help, errors, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from graphon.runs.cli import main
from graphon.runs.runner import discover_chapters, list_presets, resolve_parameters

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_BOOK = Path(__file__).resolve().parent / "fixtures" / "book"


def cli(*args: str, cwd: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m graphon ARGS`` in a fresh process, chapters from the fixture book."""
    env = {**os.environ, "GRAPHON_BOOK_DIR": str(FIXTURE_BOOK), "GRAPHON_PROGRESS": "0"}
    env.update(env_extra or {})
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "graphon", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


def test_discovery():
    chapters = discover_chapters(FIXTURE_BOOK)
    assert list(chapters) == ["toy"]  # notes.md (no parameters tag) and plain.md (no header) are not
    assert list(list_presets("toy", FIXTURE_BOOK)) == ["big"]


def test_list(tmp_path):
    res = cli("list", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "toy" in res.stdout and "big" in res.stdout
    assert "notes" not in res.stdout and "plain" not in res.stdout


def test_run_help_lists_parameters(tmp_path):
    res = cli("run", "toy", "--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "usage: python -m graphon run" in out
    assert "Parameters of chapter 'toy'" in out
    for piece in ["x", "float", "default 1.0", "the input value; range (0, 10]",
                  "scales", "list[float]", "mode", "choices square|cube", "flag", "bool",
                  "default false", "Presets: big"]:
        assert piece in out, piece
    assert not (tmp_path / "runs").exists()


def test_run_through_cli(tmp_path):
    res = cli("run", "toy", "-p", "x", "2", "-p", "scales", "1,3", "--device", "cpu", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    runs = list((tmp_path / "runs" / "toy").iterdir())
    assert len(runs) == 1
    run = runs[0]
    assert run.name.split("-")[0].isdigit() and len(run.name.split("-")[-1]) == 10
    assert f"run folder: {run}" in res.stdout
    names = {p.name for p in run.iterdir()}
    assert {"toy.ipynb", "params.yaml", "run.yaml", "metrics.json", "fig-toy.png", "fig-toy.pdf"} <= names
    params = yaml.safe_load((run / "params.yaml").read_text())
    assert params["x"] == 2.0 and params["scales"] == [1.0, 3.0] and params["device"] == "cpu"
    assert "output_dir" not in params
    meta = yaml.safe_load((run / "run.yaml").read_text())
    assert meta["status"] == "ok" and run.name.endswith(meta["hash"])
    assert meta["parameters"] == params  # run.yaml is self-contained
    from graphon.runs.runner import code_fingerprint

    assert meta["code_fingerprint"] == code_fingerprint(FIXTURE_BOOK / "toy.md")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["y"] == 4.0 and metrics["scaled"] == {"s0": 4.0, "s1": 12.0}
    nb = json.loads((run / "toy.ipynb").read_text())
    assert nb["metadata"]["papermill"]["parameters"]["output_dir"] == str(run)
    # params.yaml is itself a preset: the same parameters give the same hash
    res2 = cli("run", "toy", "--preset", str(run / "params.yaml"), "--out", "again", cwd=tmp_path)
    assert res2.returncode == 0, res2.stderr
    assert yaml.safe_load((tmp_path / "again" / "run.yaml").read_text())["hash"] == meta["hash"]
    assert json.loads((tmp_path / "again" / "metrics.json").read_text()) == metrics


def test_same_parameters_same_hash():
    """Text from the command line and typed preset values resolve to the same run hash."""
    from graphon.runs.params import params_hash

    _, _, a = resolve_parameters("toy", {"n": "6", "seed": "3"}, book_dir=FIXTURE_BOOK)
    _, _, b = resolve_parameters("toy", {"seed": 3, "n": 6.0}, book_dir=FIXTURE_BOOK)
    _, _, c = resolve_parameters("toy", {"seed": 3, "n": 7}, book_dir=FIXTURE_BOOK)
    assert a == b and params_hash("toy", a) == params_hash("toy", b) != params_hash("toy", c)


def test_preset_then_overrides():
    _, _, values = resolve_parameters("toy", {"n": "7"}, preset="big", book_dir=FIXTURE_BOOK)
    assert values["x"] == 3.0 and values["mode"] == "cube"  # from the preset
    assert values["scales"] == [0.5, 1.5, 2.5]
    assert values["n"] == 7  # -p wins over the preset
    _, _, values = resolve_parameters("toy", {}, preset="big", device="cpu", book_dir=FIXTURE_BOOK)
    assert values["device"] == "cpu" and values["n"] == 50


def test_failing_cell_exit_1_keeps_notebook(tmp_path, capsys):
    code = main(["run", "toy", "-p", "fail", "true", "--book-dir", str(FIXTURE_BOOK),
                 "--runs-dir", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "RuntimeError: the toy chapter was asked to fail" in err
    (run,) = (tmp_path / "toy").iterdir()
    assert f"kept at: {run / 'toy.ipynb'}" in err
    nb = json.loads((run / "toy.ipynb").read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert any(o.get("output_type") == "error" and o.get("ename") == "RuntimeError" for o in outputs)
    assert yaml.safe_load((run / "run.yaml").read_text())["status"] == "failed"
    assert "asked to fail" in (run / "error.txt").read_text()
    assert not (run / "metrics.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "toyy"], "unknown chapter 'toyy'; did you mean 'toy'? Chapters: toy"),
        (["run", "toy", "-p", "xx", "1"], "unknown parameter 'xx' for chapter 'toy'; did you mean 'x'?"),
        (["run", "toy", "-p", "x", "abc"], "parameter 'x' expects float, got 'abc'"),
        (["run", "toy", "-p", "x", "11"], "parameter 'x' = 11.0 is out of range (0, 10]"),
        (["run", "toy", "-p", "mode", "squar"], "choices: square|cube; did you mean 'square'?"),
        (["run", "toy", "-p", "counts", "1,20"], "element 20 is out of range [0, 10]"),
        (["run", "toy", "--preset", "paper"], "unknown preset 'paper' for chapter 'toy'. Presets: big"),
        (["run", "toy", "--preset", "nowhere.yaml"], "preset file 'nowhere.yaml' does not exist"),
        (["run", "toy", "-p", "output_dir", "x"], "output_dir is set by the runner"),
        (["run", "toy", "--device", "gpu"], "invalid choice: 'gpu'"),
        (["run"], "give a CHAPTER; chapters: toy"),
        (["sweep", "toy", "--grid", "x=1,20"], "parameter 'x' = 20.0 is out of range (0, 10]"),
        (["sweep", "toy", "--grid", "mode=square,cubic"], "choices: square|cube"),
        (["sweep", "toy", "--grid", "nope=1"], "unknown parameter 'nope'"),
        (["sweep", "toy", "--grid", "x"], "expected NAME=v1,v2"),
        (["sweep", "toy"], "needs at least one --grid"),
        (["sweep", "toy", "--grid", "x=1", "--format", "xls"], "invalid choice: 'xls'"),
    ],
)
def test_errors_exit_2_one_line_nothing_written(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRAPHON_BOOK_DIR", str(FIXTURE_BOOK))
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors (bad --device/--format choice)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.strip().count("\n") == 0, err  # one line
    assert list(tmp_path.iterdir()) == []  # no run folder, no half-made sweep


def test_bad_preset_names_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("x: 2\nwidht: 3\n")
    code = main(["run", "toy", "--preset", str(bad), "--book-dir", str(FIXTURE_BOOK),
                 "--runs-dir", str(tmp_path / "runs")])
    assert code == 2
    err = capsys.readouterr().err
    assert "preset bad.yaml: unknown parameter 'widht'" in err
    assert not (tmp_path / "runs").exists()


def test_out_must_be_new(tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    code = main(["run", "toy", "--out", str(tmp_path / "busy"), "--book-dir", str(FIXTURE_BOOK)])
    assert code == 2
    assert "already holds files" in capsys.readouterr().err
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_list_chapter_shows_parameters(capsys):
    assert main(["list", "toy", "--book-dir", str(FIXTURE_BOOK)]) == 0
    out = capsys.readouterr().out
    assert "Parameters of chapter 'toy'" in out and "choices square|cube" in out
