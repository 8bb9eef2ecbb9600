"""Runs and sweeps that never hang, never lose a result, and refuse bad input before they start
(issue 13, items 1-10). Interruptions are real signals sent to real processes; each test says
which item it reproduces. The fixture chapter ``tests/fixtures/book/toy.md`` can kill its own kernel
(``GRAPHON_FIXTURE_DIE``), report its kernel's pid (``GRAPHON_FIXTURE_PID_FILE``) and wait
(``GRAPHON_FIXTURE_SLEEP``)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from graphon.runs.cli import main
from graphon.runs.runner import code_fingerprint, make_run_dir, run_is_complete

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_BOOK = Path(__file__).resolve().parent / "fixtures" / "book"
TOY = ["--book-dir", str(FIXTURE_BOOK)]


def graphon(*args, env=None, **kw) -> subprocess.Popen:
    """Start ``python -m graphon ARGS`` as a real process (its own session, so that a test can
    signal it alone)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAPHON_PROGRESS": "0", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "graphon", *args], env=full_env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True, **kw,
    )


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[1])


def marker_lines(folder: Path) -> list[dict]:
    path = folder / "runs.txt"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --------------------------------------------------------------------------- 1. dead kernel


def test_dead_kernel_ends_the_run_with_exit_1(tmp_path):
    """Item 1: a kernel killed with SIGKILL (as by the OOM killer) used to leave `graphon run`
    waiting for ever with run.yaml 'running'. Now: exit 1 within seconds, a message naming the
    likely cause, the notebook kept, run.yaml 'failed'."""
    out = tmp_path / "run"
    proc = graphon("run", "toy", *TOY, "--out", str(out), env={"GRAPHON_FIXTURE_DIE": "1"})
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, err
    assert "kernel died" in err and "out of memory" in err and "SIGKILL" in err
    assert (out / "toy.ipynb").is_file() and "kernel died" in (out / "error.txt").read_text()
    assert yaml.safe_load((out / "run.yaml").read_text())["status"] == "failed"


# --------------------------------------------------------------------------- 2. unique folders


def _make(args):
    root, barrier = args
    barrier.wait()
    return str(make_run_dir(root, "toy", "samehash00"))


def test_run_folders_are_unique_whatever_the_timing(tmp_path):
    """Item 2: two identical runs started in the same second shared one folder (the name was chosen
    and checked before being created). Eight processes released at once get eight folders."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(8)
        with ctx.Pool(8) as pool:
            made = pool.map(_make, [(tmp_path, barrier)] * 8)
    assert len(set(made)) == 8 and all(Path(m).is_dir() for m in made)
    assert len({Path(m).name[:15] for m in made}) <= 2  # same second (or two): names differ by -k


# --------------------------------------------------------------------------- 3. sweep --out


def test_sweep_out_refuses_a_folder_with_other_files(tmp_path, capsys):
    """Item 3: `sweep --out` into a folder that holds files silently overwrote its results.csv and
    summary.png. Now it refuses (exit 2, one line) and leaves them alone."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.csv").write_text("precious\n")
    code = main(["sweep", "toy", "--grid", "x=1", *TOY, "--runs-dir", str(tmp_path / "r"),
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "already holds files" in err
    assert (out / "results.csv").read_text() == "precious\n"
    assert not (tmp_path / "r").exists()  # refused before anything was made


# --------------------------------------------------------------------------- 4. replace only once finished


def test_old_point_is_kept_until_its_new_run_has_finished(tmp_path, capsys, monkeypatch):
    """Item 4: after a code change a sweep deleted the old finished point before rerunning it, so a
    failed or interrupted rerun lost it (and results.csv pointed at a missing folder). Now the old
    run stays in place until a new one has finished: a failed rerun is kept beside it, an
    interrupted one leaves it untouched."""
    runs = tmp_path / "runs"
    args = ["sweep", "toy", "--grid", "x=1", *TOY, "--runs-dir", str(runs)]
    assert main(args) == 0
    capsys.readouterr()
    (point,) = [p for p in (runs / "toy" / "points").iterdir() if not p.name.startswith(".")]
    meta = yaml.safe_load((point / "run.yaml").read_text())
    meta["code_fingerprint"] = "older-code"  # as if the package had changed since
    (point / "run.yaml").write_text(yaml.safe_dump(meta))
    metrics = (point / "metrics.json").read_text()

    monkeypatch.setenv("GRAPHON_FIXTURE_FAIL_AT", "1")  # the rerun fails
    assert main(args) == 1
    assert "running it again" in capsys.readouterr().err
    assert run_is_complete(point) and (point / "metrics.json").read_text() == metrics
    failed = point.with_name(point.name + ".failed")
    assert yaml.safe_load((failed / "run.yaml").read_text())["status"] == "failed"
    monkeypatch.delenv("GRAPHON_FIXTURE_FAIL_AT")

    # interrupted while the rerun is under way: the old point is still whole
    proc = graphon(*args, env={"GRAPHON_FIXTURE_SLEEP": "60"})
    store = runs / "toy" / "points"
    wait_for(lambda: list(store.glob(".*.attempt-*/run.yaml")), 60, "the rerun's attempt folder")
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert run_is_complete(point) and (point / "metrics.json").read_text() == metrics
    (attempt,) = store.glob(".*.attempt-*")
    assert yaml.safe_load((attempt / "run.yaml").read_text())["status"] == "interrupted"

    # the rerun that finishes replaces it (and removes the interrupted attempt)
    assert main(args) == 0
    fresh = yaml.safe_load((point / "run.yaml").read_text())
    assert fresh["code_fingerprint"] == code_fingerprint(FIXTURE_BOOK / "toy.md")
    assert not list(store.glob(".*"))


# --------------------------------------------------------------------------- 5. locks, kill -9


@pytest.mark.slow
def test_two_identical_sweeps_at_once_run_each_point_once(tmp_path):
    """Item 5: two identical sweeps started together ran every shared point twice. With a lock per
    point, each point runs once; the other sweep waits for it and reports it done."""
    marks = tmp_path / "marks"
    args = ["sweep", "toy", "--grid", "x=1,2", "-p", "marker_dir", str(marks), *TOY,
            "--runs-dir", str(tmp_path / "runs")]
    procs = [graphon(*args, "--out", str(tmp_path / f"s{i}"), env={"GRAPHON_FIXTURE_SLEEP": "3"})
             for i in range(2)]
    for p in procs:
        p.communicate(timeout=300)
    assert [p.returncode for p in procs] == [0, 0]
    assert sorted(r["x"] for r in marker_lines(marks)) == [1.0, 2.0]


def test_kill_9_on_a_sweep_leaves_no_orphans_and_resume_runs_once(tmp_path):
    """Item 5: `kill -9` on a sweep left its point process and kernel running; a resume then ran
    the point again into the same folder. Now the point process gets a parent-death signal and
    stops its kernel; the resume runs the point once, into a fresh attempt folder."""
    marks = tmp_path / "marks"
    pid_file = tmp_path / "kernel.pid"
    args = ["sweep", "toy", "--grid", "x=1", "-p", "marker_dir", str(marks), *TOY,
            "--runs-dir", str(tmp_path / "runs")]
    proc = graphon(*args, env={"GRAPHON_FIXTURE_SLEEP": "60",
                               "GRAPHON_FIXTURE_PID_FILE": str(pid_file)})
    kernel = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 90, "the kernel"))
    point = parent_of(kernel)
    assert point != proc.pid and alive(point)
    os.kill(proc.pid, signal.SIGKILL)  # the sweep alone, as the OOM killer or `kill -9 PID` does
    proc.communicate(timeout=30)
    wait_for(lambda: not alive(point) and not alive(kernel), 30, "the point and its kernel to stop")

    assert main(args) == 0
    assert [r["x"] for r in marker_lines(marks)] == [1.0]  # the killed run never finished: once


# --------------------------------------------------------------------------- 6. SIGHUP / SIGTERM


def test_sighup_marks_the_run_interrupted(tmp_path):
    """Item 6: SIGHUP (a closed terminal) left a half-made folder marked 'running'."""
    pid_file = tmp_path / "kernel.pid"
    runs = tmp_path / "runs"
    proc = graphon("run", "toy", *TOY, "--runs-dir", str(runs),
                   env={"GRAPHON_FIXTURE_SLEEP": "60", "GRAPHON_FIXTURE_PID_FILE": str(pid_file)})
    kernel = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 90, "the kernel"))
    os.kill(proc.pid, signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGHUP, err
    assert "SIGHUP" in err
    (run_dir,) = (runs / "toy").iterdir()
    info = yaml.safe_load((run_dir / "run.yaml").read_text())
    assert info["status"] == "interrupted" and "SIGHUP" in info["error"]
    wait_for(lambda: not alive(kernel), 20, "the kernel to stop")


def test_sigterm_never_deletes_the_users_out_folder(tmp_path):
    """Item 6: SIGTERM with --out pointing at a folder the user made deleted that folder."""
    pid_file = tmp_path / "kernel.pid"
    mine = tmp_path / "my-empty-folder"
    mine.mkdir()
    proc = graphon("run", "toy", *TOY, "--out", str(mine),
                   env={"GRAPHON_FIXTURE_SLEEP": "60", "GRAPHON_FIXTURE_PID_FILE": str(pid_file)})
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), 90, "the kernel")
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    info = yaml.safe_load((mine / "run.yaml").read_text())
    assert info["status"] == "interrupted" and info["folder_created_by_run"] is False


# --------------------------------------------------------------------------- 9. unwritable folders


@pytest.mark.parametrize("option", ["--runs-dir", "--out"])
def test_unwritable_folder_is_one_line_exit_2(tmp_path, capsys, option):
    """Item 9: an unwritable --out or --runs-dir printed a 20-line traceback with exit 1. (The tests
    may run as root, for whom permissions do not apply: a path below a plain file cannot be
    created by anyone.)"""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code = main(["run", "toy", *TOY, option, str(blocker / "sub")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and option in err, err
    code = main(["sweep", "toy", "--grid", "x=1", *TOY, option, str(blocker / "sub")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
