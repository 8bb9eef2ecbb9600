"""One point of a sweep, run once whatever else runs: ``python -m graphon.runs.point ...``.

A sweep (:mod:`graphon.runs.sweep`) starts one such process per point. The process

1. takes the point's lock, ``<runs_dir>/<chapter>/.point-locks/<hash>.lock`` (:class:`filelock.FileLock`, an ``flock`` that
   the system releases when the holder dies, so a killed point never leaves a stale lock); if
   another process holds it (another sweep running the same point), it exits at once with
   :data:`BUSY` and the sweep retries later;
2. with the lock held, skips the point when ``<store>/<hash>/`` already holds a successful run made
   by the same code (another sweep finished it meanwhile), and removes earlier unfinished attempts;
3. runs the chapter into a fresh attempt folder ``<store>/.<hash>.attempt-<pid>/``;
4. publishes it only once it has finished: a successful run replaces ``<store>/<hash>/`` (two
   renames, under the lock); a failed one takes the point's place only when no successful earlier
   run is there, and otherwise is kept beside it as ``<store>/<hash>.failed/``. An interrupted
   attempt is left, marked ``interrupted``, and removed by the next attempt. So an older result is
   never lost before a newer one exists, and ``results.csv`` never points at a missing folder.

The last line it prints is ``POINT-RESULT {json}`` (status ``ok``, ``failed``, ``skipped``), read by
the sweep. Exit status: 0 ok or skipped, 1 failed, :data:`BUSY` locked elsewhere, 128 + N when
stopped by signal N. The sweep starts it in its own process group with a parent-death signal
(SIGTERM when the sweep dies, even by ``kill -9``), and the kernel it starts exits when its parent
does (ipykernel's parent poller), so no orphan keeps computing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

BUSY = 75  # EX_TEMPFAIL: the point is locked by another process; try again later


def lock_path(store: Path, digest: str) -> Path:
    """``<runs_dir>/<chapter>/.point-locks/<hash>.lock``: beside the store, so that the store lists
    only points."""
    folder = store.parent / ".point-locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{digest}.lock"


def point_lock(store: Path, digest: str):
    """The point's :class:`filelock.FileLock` (not yet acquired)."""
    from filelock import FileLock

    return FileLock(str(lock_path(store, digest)))


def _attempts(store: Path, digest: str) -> list[Path]:
    return sorted(store.glob(f".{digest}.attempt-*"))


def remove_stale_attempts(store: Path, digest: str) -> None:
    """Remove unfinished attempts of a point; call only with the point's lock held."""
    for old in _attempts(store, digest):
        shutil.rmtree(old, ignore_errors=True)
    for old in store.glob(f".{digest}.old-*"):
        shutil.rmtree(old, ignore_errors=True)


def publish(attempt: Path, final: Path, ok: bool) -> Path:
    """Move a finished attempt into place (see the module docstring); returns where it now is.
    Call only with the point's lock held."""
    from .runner import run_is_complete

    if not ok and run_is_complete(final):
        aside = final.with_name(f"{final.name}.failed")
        shutil.rmtree(aside, ignore_errors=True)
        attempt.rename(aside)
        return aside
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
        attempt.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        attempt.rename(final)
    return final


def _fix_output_dir(folder: Path) -> None:
    """The attempt ran with ``output_dir`` = the attempt folder; after the move, record where it is."""
    path = folder / "run.yaml"
    with contextlib.suppress(OSError, yaml.YAMLError):
        info = yaml.safe_load(path.read_text()) or {}
        info["run_dir"] = str(folder)
        path.write_text(yaml.safe_dump(info, sort_keys=False, default_flow_style=None))


def run_point(
    chapter: str, values: dict[str, Any], store: Path, digest: str, book_dir: Path,
    fingerprint: str | None, preset: str | Path | None = None,
) -> dict[str, Any]:
    """Run one point under its lock (see the module docstring); returns its outcome dict.

    ``values`` are the point's parameters, or ``preset`` a YAML file holding them (then recorded in
    the point's ``run.yaml``).

    Raises:
        BlockingIOError: when another process holds the point's lock.
        KeyboardInterrupt: stopped; the attempt folder is left marked ``interrupted``.
    """
    from filelock import Timeout

    from .runner import run_chapter, run_is_complete

    store.mkdir(parents=True, exist_ok=True)
    final = store / digest
    lock = point_lock(store, digest)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise BlockingIOError(f"point {digest} is being run by another process") from None
    try:
        if run_is_complete(final, fingerprint):
            return {"status": "skipped", "ok": True, "error": None, "folder": str(final)}
        remove_stale_attempts(store, digest)
        attempt = store / f".{digest}.attempt-{os.getpid()}"
        res = run_chapter(
            chapter, overrides=None if preset else values, preset=preset, out=attempt,
            book_dir=book_dir, force=True,
        )
        where = publish(attempt, final, res.ok)
        _fix_output_dir(where)
        return {
            "status": "ok" if res.ok else "failed",
            "ok": res.ok,
            "error": res.error,
            "seconds": res.seconds,
            "folder": str(where),
        }
    finally:
        lock.release()


def main(argv: list[str] | None = None) -> int:
    from .cli import _signals_as_interrupt
    from .runner import RunInterrupted

    ap = argparse.ArgumentParser(prog="python -m graphon.runs.point", description=__doc__.splitlines()[0])
    ap.add_argument("chapter")
    ap.add_argument("--params", required=True, help="YAML file of the point's parameters")
    ap.add_argument("--store", required=True)
    ap.add_argument("--hash", required=True)
    ap.add_argument("--book-dir", required=True)
    ap.add_argument("--fingerprint")
    args = ap.parse_args(argv)
    _signals_as_interrupt()
    try:
        out = run_point(
            args.chapter, {}, Path(args.store), args.hash, Path(args.book_dir), args.fingerprint,
            preset=args.params,
        )
    except BlockingIOError as exc:
        print(f"POINT-BUSY {exc}", flush=True)
        return BUSY
    except RunInterrupted as exc:
        print(f"point {args.hash}: stopped by {exc.name}", flush=True)
        return 128 + exc.signum
    except KeyboardInterrupt:
        return 130
    print("POINT-RESULT " + json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
