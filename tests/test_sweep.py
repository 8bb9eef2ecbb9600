"""``python -m graphon sweep``: grid parsing, the results table, resuming after a failure or a kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from graphon.runs.cli import main
from graphon.runs.params import ParameterError, parse_chapter, specs_by_name
from graphon.runs.runner import code_fingerprint, resolve_parameters, run_is_complete
from graphon.runs.sweep import _local_device, expand_grid, flatten, parse_grid, run_sweep

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_BOOK = Path(__file__).resolve().parent / "fixtures" / "book"


@pytest.fixture(scope="module")
def specs():
    return parse_chapter(FIXTURE_BOOK / "toy.md")


def marker_lines(folder: Path) -> list[dict]:
    path = folder / "runs.txt"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --------------------------------------------------------------------------- grid


def test_parse_grid_types(specs):
    grid = parse_grid(specs, ["x=1,2.5", "mode=square,cube", "flag=true,false"])
    assert grid == {"x": [1.0, 2.5], "mode": ["square", "cube"], "flag": [True, False]}
    assert parse_grid(specs, ["x=[0.5, 1e-3]"]) == {"x": [0.5, 1e-3]}
    # a list parameter takes one bracketed list per point; bare values are one-element lists
    assert parse_grid(specs, ["scales=[1,2],[3]"]) == {"scales": [[1.0, 2.0], [3.0]]}
    assert parse_grid(specs, ["counts=1,2"]) == {"counts": [[1], [2]]}
    assert parse_grid(specs, {"n": [1, 2]}) == {"n": [1, 2]}


@pytest.mark.parametrize(
    "grid, message",
    [
        (["x=1,11"], r"out of range \(0, 10\]"),
        (["mode=square,qube"], "did you mean 'cube'"),
        (["nn=1"], "did you mean 'n'"),
        (["x"], "expected NAME=v1,v2"),
        (["x=1", "x=2"], "given twice"),
        (["output_dir=a,b"], "cannot be swept"),
        (["x="], "has no values"),
        ([], "at least one --grid"),
    ],
)
def test_parse_grid_errors(specs, grid, message):
    with pytest.raises(ParameterError, match=message):
        parse_grid(specs, grid)


def test_expand_and_flatten():
    pts = expand_grid({"a": [1, 2], "b": ["u", "v", "w"]})
    assert len(pts) == 6 and pts[0] == {"a": 1, "b": "u"} and pts[1] == {"a": 1, "b": "v"}
    assert flatten({"y": 1, "d": {"m": 2, "e": {"f": [1, 2]}}, "z": {}}) == {
        "y": 1, "d.m": 2, "d.e.f": [1, 2], "z": {},
    }


def test_clash_and_options_refused_before_anything(tmp_path):
    kw = dict(book_dir=FIXTURE_BOOK, runs_dir=tmp_path)
    with pytest.raises(ParameterError, match="both with -p and --grid"):
        run_sweep("toy", ["x=1,2"], overrides={"x": "3"}, **kw)
    with pytest.raises(ParameterError, match="--jobs must be"):
        run_sweep("toy", ["x=1,2"], jobs=0, **kw)
    with pytest.raises(ParameterError, match="--address only applies"):
        run_sweep("toy", ["x=1,2"], address="1.2.3.4:6379", **kw)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- running


def test_sweep_table_figure_and_resume_after_failure(tmp_path, monkeypatch, capsys):
    """One point fails on the first pass; rerunning the same command runs only that point."""
    marks = tmp_path / "marks"
    args = ["sweep", "toy", "--grid", "x=1,2,3", "--grid", "mode=cube", "-p", "marker_dir",
            str(marks), "--jobs", "2", "--book-dir", str(FIXTURE_BOOK), "--runs-dir", str(tmp_path)]
    monkeypatch.setenv("GRAPHON_FIXTURE_FAIL_AT", "2")  # the x=2 point raises
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "FAILED (RuntimeError: the toy chapter was asked to fail)" in err
    assert "failed points (rerun the same command to retry them)" in err
    assert len(marker_lines(marks)) == 2

    monkeypatch.delenv("GRAPHON_FIXTURE_FAIL_AT")
    assert main(args) == 0
    out = capsys.readouterr()
    assert "3 points (1 run now, 2 already done, 0 failed)" in out.out
    runs = marker_lines(marks)
    assert sorted(r["x"] for r in runs) == [1.0, 2.0, 3.0]  # each point completed exactly once

    (sweep_dir,) = (tmp_path / "toy").glob("sweep-*")
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == [
        ".point-locks", "points", sweep_dir.name]  # the locks live beside the store
    assert sorted(p.name for p in sweep_dir.iterdir()) == [
        "logs", "results.csv", "summary.png", "sweep.yaml"]
    table = pd.read_csv(sweep_dir / "results.csv")
    assert len(table) == 3 and (table["status"] == "ok").all()
    assert list(table.columns[:7]) == ["point", "hash", "status", "seconds", "error", "x", "mode"]
    assert {"draws.mean", "draws.max", "scaled.s0", "scaled.s1", "y", "metrics.n"} <= set(table.columns)
    row = table[(table["x"] == 2.0) & (table["mode"] == "cube")].iloc[0]
    assert row["y"] == 8.0 and row["scaled.s1"] == 16.0
    assert json.loads(row["scales"]) == [1.0, 2.0]
    assert (sweep_dir / "summary.png").stat().st_size > 1000
    assert sorted(p.name for p in (sweep_dir / "logs").iterdir()) == sorted(
        f"{h}{ext}" for h in table["hash"] for ext in (".log", ".params.yaml"))
    for h, rel in zip(table["hash"], table["run_dir"], strict=True):
        point = tmp_path / "toy" / "points" / h
        assert rel == f"../points/{h}" and run_is_complete(point)
        meta = yaml.safe_load((point / "run.yaml").read_text())
        assert meta["code_fingerprint"] == code_fingerprint(FIXTURE_BOOK / "toy.md")
        assert meta["parameters"]["x"] in (1.0, 2.0, 3.0) and meta["parameters"]["mode"] == "cube"
        assert Path(meta["preset"]).is_file()  # the file the point was given is kept

    # a third pass runs nothing and rewrites the same table
    assert main(args) == 0
    assert "(0 run now, 3 already done, 0 failed)" in capsys.readouterr().out
    assert len(marker_lines(marks)) == 3
    again = pd.read_csv(sweep_dir / "results.csv")
    pd.testing.assert_frame_equal(table, again)


def test_changed_grid_reuses_points(tmp_path, capsys):
    """The point store is shared by every sweep of a chapter: a second sweep with its --grids in
    the other order, one more value, and --device spelled out (auto is resolved first) runs only
    the new point, and writes its own table with all of them."""
    marks = tmp_path / "marks"
    common = ["-p", "marker_dir", str(marks), "--book-dir", str(FIXTURE_BOOK),
              "--runs-dir", str(tmp_path)]
    assert main(["sweep", "toy", "--grid", "x=1,2", "--grid", "mode=square,cube", *common]) == 0
    assert "4 points (4 run now, 0 already done, 0 failed)" in capsys.readouterr().out
    assert len(marker_lines(marks)) == 4
    assert main(["sweep", "toy", "--grid", "mode=cube,square", "--grid", "x=2,1,3",
                 "--device", _local_device(), *common]) == 0
    out = capsys.readouterr().out
    assert "6 points (2 run now, 4 already done, 0 failed)" in out
    runs = marker_lines(marks)
    assert len(runs) == 6 and sorted((r["x"], r["mode"]) for r in runs[4:]) == [
        (3.0, "cube"), (3.0, "square")]
    assert len(list((tmp_path / "toy" / "points").iterdir())) == 6
    sweeps = sorted((tmp_path / "toy").glob("sweep-*"))
    assert len(sweeps) == 2
    tables = [pd.read_csv(s / "results.csv") for s in sweeps]
    assert sorted(len(t) for t in tables) == [4, 6]
    assert all((t["status"] == "ok").all() for t in tables)


def test_changed_code_reruns_points(tmp_path):
    """A point made by other code (here: the chapter's source edited) is run again, and the log
    says why; the next sweep skips it."""
    book = tmp_path / "book"
    shutil.copytree(FIXTURE_BOOK, book)
    marks = tmp_path / "marks"
    kw = dict(overrides={"marker_dir": str(marks)}, book_dir=book, runs_dir=tmp_path / "runs")
    res = run_sweep("toy", ["x=1"], **kw)
    (point,) = res.points
    assert point.status == "ok" and len(marker_lines(marks)) == 1
    before = yaml.safe_load((point.run_dir / "run.yaml").read_text())["code_fingerprint"]
    assert run_sweep("toy", ["x=1"], **kw).points[0].status == "skipped"

    chapter = book / "toy.md"
    chapter.write_text(chapter.read_text() + "\nA line added after the point ran.\n")
    assert code_fingerprint(chapter) != before
    logged: list[str] = []
    res = run_sweep("toy", ["x=1"], log=logged.append, **kw)
    assert res.points[0].status == "ok" and len(marker_lines(marks)) == 2
    assert any("done before by other code" in m and before in m for m in logged), logged
    after = yaml.safe_load((point.run_dir / "run.yaml").read_text())["code_fingerprint"]
    assert after == code_fingerprint(chapter)
    assert run_sweep("toy", ["x=1"], **kw).points[0].status == "skipped"
    assert len(marker_lines(marks)) == 2


def _wait_for(predicate, proc, timeout=90.0):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_resume_after_kill_and_interrupt(tmp_path):
    """SIGKILL a running sweep (its whole process group) after its first point, then stop a second
    attempt politely (SIGTERM, as a batch system or Ctrl-C would); the third attempt skips the
    finished point, redoes the ones cut off, and every point completes exactly once."""
    marks = tmp_path / "marks"
    args = [sys.executable, "-m", "graphon", "sweep", "toy", "--grid", "x=1,2,3",
            "-p", "marker_dir", str(marks), "--book-dir", str(FIXTURE_BOOK),
            "--runs-dir", str(tmp_path / "runs"), "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAPHON_FIXTURE_SLEEP": "60",
           "GRAPHON_FIXTURE_SLEEP_FROM": "2"}
    from graphon.runs.params import params_hash

    _, _, base = resolve_parameters("toy", {"marker_dir": str(marks)}, device="cpu",
                                    book_dir=FIXTURE_BOOK)
    hashes = [params_hash("toy", {**base, "x": x}) for x in (1.0, 2.0, 3.0)]
    sweep_hash = params_hash("toy", {"fixed": {k: v for k, v in base.items()
                                               if k not in ("x", "output_dir")},
                                     "grid": {"x": [1.0, 2.0, 3.0]}})
    points = tmp_path / "runs" / "toy" / "points"
    first, second = points / hashes[0], points / hashes[1]

    def attempts():  # the second point runs in an attempt folder until it has finished
        return sorted(points.glob(f".{hashes[1]}.attempt-*"))

    # 1. hard kill once the first point is done and the second has started
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: run_is_complete(first) and any(
            (a / "run.yaml").exists() for a in attempts()), proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert not second.exists() and len(marker_lines(marks)) == 1
    (killed,) = attempts()

    # 2. polite stop: exit status 128 + SIGTERM; the new attempt is kept, marked interrupted
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:  # the stale attempt of step 1 was removed and a new one started
        assert _wait_for(lambda: not killed.exists() and any(
            (a / "run.yaml").exists() for a in attempts()), proc)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "rerun the same command to resume" in err
    (stopped,) = attempts()
    assert yaml.safe_load((stopped / "run.yaml").read_text())["status"] == "interrupted"
    assert not second.exists() and run_is_complete(first)

    # 3. the rerun finishes the sweep
    env.pop("GRAPHON_FIXTURE_SLEEP")
    res = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "3 points (2 run now, 1 already done, 0 failed)" in res.stdout
    runs = marker_lines(marks)
    assert sorted(r["x"] for r in runs) == [1.0, 2.0, 3.0]  # none twice, none lost
    table = pd.read_csv(points.parent / f"sweep-{sweep_hash}" / "results.csv")
    assert list(table["x"]) == [1.0, 2.0, 3.0] and (table["status"] == "ok").all()


@pytest.mark.slow
def test_ray_local(tmp_path):
    """Two points as Ray tasks on a local Ray, once writing in place and once shipping files."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for ship, name in ((False, "direct"), (True, "shipped")):
            res = run_sweep("toy", ["x=1,2"], cluster="ray", jobs=2, ship_files=ship,
                            runs_dir=tmp_path / name, book_dir=FIXTURE_BOOK)
            assert [p.status for p in res.points] == ["ok", "ok"]
            table = pd.read_csv(res.table)
            assert list(table["y"]) == [1.0, 4.0]
            for p in res.points:
                assert run_is_complete(p.run_dir)
                assert p.run_dir.parent == (tmp_path / name / "toy" / "points").resolve()
                assert (p.run_dir / "fig-toy.png").exists()
    finally:
        ray.shutdown()


def test_specs_fixture_has_marker(specs):
    assert "marker_dir" in specs_by_name(specs)


def test_summary_figure_picks_metrics(tmp_path):
    """The summary figure draws the chosen metric columns (glob) against the first grid name."""
    from graphon.runs.sweep import Point, build_rows, summary_figure

    points = []
    for i, (x, mode) in enumerate([(1.0, "square"), (2.0, "square"), (1.0, "cube")]):
        run_dir = tmp_path / f"p{i}"
        run_dir.mkdir()
        (run_dir / "metrics.json").write_text(json.dumps({"y": x * i, "d": {"a": 1.0, "b": 2.0}}))
        points.append(Point(i, {"x": x, "mode": mode}, {"x": x, "mode": mode, "n": 3}, f"h{i}",
                            run_dir, status="ok"))
    rows = build_rows(points, ["x", "mode"], tmp_path / "sweep")
    assert rows[0]["d.a"] == 1.0 and rows[0]["x"] == 1.0 and rows[0]["run_dir"] == "../p0"
    path = summary_figure(points, rows, ["x", "mode"], tmp_path / "s.png", plot=["d.*"])
    assert path.stat().st_size > 1000
    # a text-valued first grid parameter is drawn on a categorical axis
    summary_figure(points, rows, ["mode", "x"], tmp_path / "t.png")
    assert (tmp_path / "t.png").exists()
