"""Run a chapter over a grid of parameters: ``python -m graphon sweep CHAPTER --grid NAME=v1,v2 ...``.

The grid is the cartesian product of the ``--grid`` values (first ``--grid`` varies slowest). The
other parameters come from the chapter's defaults, a preset and ``-p`` overrides, exactly as for
``run``; every point is validated before anything runs.

Points live in one store per chapter, shared by every sweep; a sweep folder holds only what
describes that sweep::

    <runs_dir>/<chapter>/points/<point hash>/        one run folder per point (see graphon.runs.runner)
    <runs_dir>/<chapter>/.point-locks/<hash>.lock    the lock a point's process holds while it runs
    <runs_dir>/<chapter>/sweep-<sweep hash>/         (or --out DIR)
        sweep.yaml                                   the grid, the fixed parameters, the points
        logs/<point hash>.log, .params.yaml          what each point run printed, what it was given
        results.csv | results.parquet                one row per point: parameters + metrics
        summary.png                                  each numeric metric against the first grid parameter

A point's hash is :func:`graphon.runs.params.params_hash` of its full parameter set (``device:
auto`` is first resolved to the device a local sweep will use), so it names the point whatever
sweep asks for it: reordering the ``--grid`` options, adding a value or fixing a parameter at its
default reuses every point already in the store. A point is skipped when its folder holds a
successful run (``run.yaml`` status ok and ``metrics.json``) made by the same code
(:func:`graphon.runs.runner.code_fingerprint`: chapter source, ``graphon`` version and sources); a
point made by other code is run again. Every point is checked (types, ranges, the chapter's
declared rules, device, memory) before the first one runs. The sweep hash (chapter, fixed
parameters, grid and its order) only names the sweep folder; ``out`` must be new, empty, or this
same sweep's folder.

Each point runs through :mod:`graphon.runs.point`: under a lock per point (so two sweeps that
share points run each once), into a fresh attempt folder that replaces the point's older result
only once it has finished. Rerunning the same command after an interruption (Ctrl-C, a killed job,
a failed point) runs only what is missing: no point runs twice and none is lost.

Points run as local processes (``python -m graphon.runs.point``, at most ``--jobs N`` at once, each
in its own process group with a parent-death signal, so that ``kill -9`` on the sweep leaves
nothing running; their output goes to ``logs/<point hash>.log``), or as Ray tasks with
``cluster="ray"`` (the optional extra ``pip install -e ".[cluster]"``): a local Ray is started when
no ``address`` is given; on a GPU cluster each point asks for one GPU unless its ``device`` is
``cpu``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .params import (
    ParameterError,
    ParameterSpec,
    convert,
    params_hash,
    specs_by_name,
    split_list_text,
    unknown_parameter_error,
)
from .runner import (
    code_fingerprint,
    default_book_dir,
    default_runs_dir,
    resolve_parameters,
    run_chapter,
    run_fingerprint,
    run_is_complete,
)

__all__ = [
    "CLUSTERS",
    "FORMATS",
    "Point",
    "SweepResult",
    "expand_grid",
    "flatten",
    "parse_grid",
    "run_sweep",
    "write_table",
]

FORMATS = ("csv", "parquet")
CLUSTERS = ("local", "ray")
POINTS = "points"  # the chapter's point store: <runs_dir>/<chapter>/points/<point hash>/


@dataclass
class Point:
    """One grid point: its varied values, full parameters, hash, folder and outcome."""

    index: int
    grid_values: dict[str, Any]
    parameters: dict[str, Any]
    hash: str
    run_dir: Path
    status: str = "pending"  # pending | ok | failed | skipped (ok before this call)
    error: str | None = None
    seconds: float | None = None


@dataclass
class SweepResult:
    """What :func:`run_sweep` produced."""

    chapter: str
    sweep_dir: Path
    table: Path
    figure: Path | None
    points: list[Point] = field(default_factory=list)

    @property
    def failed(self) -> list[Point]:
        return [p for p in self.points if p.status == "failed"]

    @property
    def ran(self) -> list[Point]:
        return [p for p in self.points if p.status in ("ok", "failed")]

    @property
    def skipped(self) -> list[Point]:
        return [p for p in self.points if p.status == "skipped"]


# --------------------------------------------------------------------------- grid


def _grid_items(spec: ParameterSpec, text: str) -> list[str] | list[Any]:
    text = text.strip()
    if not spec.is_list and text.startswith("["):
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ParameterError(f"--grid {spec.name}: not a valid list of values: {text!r}") from None
        if isinstance(loaded, list):
            return loaded
    if text == "":
        return []  # reported as "has no values" by parse_grid
    items = split_list_text(text)
    if any(item == "" for item in items):
        raise ParameterError(f"--grid {spec.name}: empty value in {text!r}")
    return items


def parse_grid(
    specs: Sequence[ParameterSpec],
    grid: Sequence[str] | Mapping[str, Any],
    chapter: str | None = None,
) -> dict[str, list[Any]]:
    """Read ``["NAME=v1,v2", ...]`` (or a mapping name -> list/text) into typed value lists.

    Values are separated by commas outside brackets, so a ``list[...]`` parameter takes one
    bracketed list per point (``widths=[100,200],[400]``) and a bare ``widths=100,200`` means the
    points ``[100]`` and ``[200]``. A scalar parameter also accepts a YAML list (``x=[0.1, 0.2]``).

    Raises:
        ParameterError: malformed item, unknown or repeated name, empty value list, a bad value.
    """
    by_name = specs_by_name(specs)
    items: list[tuple[str, Any]] = []
    if isinstance(grid, Mapping):
        items = list(grid.items())
    else:
        for raw in grid:
            name, sep, values = raw.partition("=")
            if not sep or not name.strip():
                raise ParameterError(f"--grid {raw!r}: expected NAME=v1,v2,...")
            items.append((name.strip(), values))
    out: dict[str, list[Any]] = {}
    for name, values in items:
        if name not in by_name:
            raise unknown_parameter_error(name, list(by_name), chapter)
        if name == "output_dir":
            raise ParameterError("output_dir cannot be swept; use --out DIR for the sweep folder")
        if name in out:
            raise ParameterError(f"--grid {name!r} is given twice; put all its values in one --grid")
        spec = by_name[name]
        raw_items = _grid_items(spec, values) if isinstance(values, str) else list(values)
        if not raw_items:
            raise ParameterError(f"--grid {name}=... has no values")
        typed = [convert(spec, v, from_text=True) for v in raw_items]
        out[name] = typed
    if not out:
        raise ParameterError("a sweep needs at least one --grid NAME=v1,v2")
    return out


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of the grid, first name varying slowest."""
    names = list(grid)
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(grid[n] for n in names))
    ]


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys (``{"a": {"b": 1}} -> {"a.b": 1}``); lists stay values."""
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, Mapping) and v:
                out.update(flatten(v, key))
            else:
                out[key] = v
    else:
        out[prefix or "value"] = obj
    return out


# --------------------------------------------------------------------------- workers


def _point_worker(chapter: str, values: dict, store: str, digest: str, book_dir: str,
                  fingerprint: str | None) -> dict:
    """Run one point under its lock in this (Ray worker) process; return its outcome."""
    from .point import run_point

    try:
        return run_point(chapter, values, Path(store), digest, Path(book_dir), fingerprint)
    except BlockingIOError as exc:
        return {"status": "busy", "ok": False, "error": str(exc)}


def _ray_point_files(chapter: str, values: dict, book_dir: str) -> dict:
    """Ray task body when the driver's disk may not be shared: run in a temporary folder on the
    worker and send every file back."""
    tmp = Path(tempfile.mkdtemp(prefix="graphon-point-"))
    try:
        res = run_chapter(chapter, overrides=values, out=tmp / "run", book_dir=book_dir, force=True)
        files = {
            str(p.relative_to(res.run_dir)): p.read_bytes()
            for p in res.run_dir.rglob("*")
            if p.is_file()
        }
        return {"ok": res.ok, "error": res.error, "seconds": res.seconds, "files": files}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _store_files(store: Path, digest: str, files: Mapping[str, bytes], ok: bool) -> Path:
    """Write a point's files sent back by a remote worker into an attempt folder, then publish it
    under the point's lock (an older result is replaced only now that the new one is complete)."""
    from .point import point_lock, publish

    with point_lock(store, digest):
        attempt = store / f".{digest}.attempt-{os.getpid()}"
        shutil.rmtree(attempt, ignore_errors=True)
        for rel, data in files.items():
            target = attempt / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return publish(attempt, store / digest, ok)


def _point_outcome(log_path: Path, code: int | None) -> dict:
    """The ``POINT-RESULT`` line a point process printed last (see :mod:`graphon.runs.point`)."""
    from .point import BUSY

    if code == BUSY:
        return {"status": "busy", "ok": False, "error": None}
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        if line.startswith("POINT-RESULT "):
            with contextlib.suppress(ValueError):
                return json.loads(line[len("POINT-RESULT "):])
    tail = next((ln for ln in reversed(lines) if ln.strip()), "")
    return {
        "status": "failed", "ok": False,
        "error": f"the point process exited with status {code} ({tail.strip()[:200]}); see {log_path}",
    }


def _parent_death_signal():  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send SIGTERM to this (child) process when the sweep that started it dies, even
    by SIGKILL (``prctl(PR_SET_PDEATHSIG)``); a no-op elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


def _stop_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, sig)


def _run_local(todo, chapter, book, jobs, report, sweep_dir: Path, store: Path, fingerprint,
               log) -> None:
    """Run each point as ``python -m graphon.runs.point`` in its own process group, at most ``jobs``
    at a time. A point locked by another sweep is retried once that lock is free (and skipped if
    the other sweep finished it). On Ctrl-C/SIGTERM the running points are stopped (each one shuts
    its kernel down and marks its attempt interrupted) before the interrupt goes on."""
    from .point import BUSY

    logs = sweep_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    pending = list(todo)
    running: dict[subprocess.Popen, tuple[Point, Any, Path]] = {}
    waiting_since: dict[str, float] = {}
    try:
        while pending or running:
            started = False
            for p in list(pending):
                if len(running) >= jobs:
                    break
                if time.monotonic() < waiting_since.get(p.hash, 0.0):
                    continue
                pending.remove(p)
                params = logs / f"{p.hash}.params.yaml"  # what it was given, kept beside its log
                params.write_text(yaml.safe_dump(_overrides(p), sort_keys=False))
                log_path = logs / f"{p.hash}.log"
                fh = open(log_path, "a")  # noqa: SIM115 - closed when the process ends
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                fh.write(f"--- {stamp}: point {p.hash} started (earlier attempts above)\n")
                fh.flush()
                cmd = [
                    sys.executable, "-m", "graphon.runs.point", chapter, "--params", str(params),
                    "--store", str(store), "--hash", p.hash, "--book-dir", str(book),
                    "--fingerprint", fingerprint,
                ]
                proc = subprocess.Popen(
                    cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                    preexec_fn=_parent_death_signal if sys.platform.startswith("linux") else None,
                )
                running[proc] = (p, fh, log_path)
                started = True
            if not started:
                time.sleep(0.05)
            for proc in [q for q in running if q.poll() is not None]:
                p, fh, log_path = running.pop(proc)
                fh.close()
                outcome = _point_outcome(log_path, proc.returncode)
                if proc.returncode == BUSY:
                    if p.hash not in waiting_since:
                        log(f"point {p.hash} is being run by another sweep: waiting for it")
                    waiting_since[p.hash] = time.monotonic() + 1.0
                    pending.append(p)
                    continue
                report(p, outcome)
    except BaseException:
        for proc in running:
            _stop_group(proc, signal.SIGTERM)
        deadline = time.time() + 20
        for proc, (_p, fh, _log) in running.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                _stop_group(proc, signal.SIGKILL)
                proc.wait()
            fh.close()
        raise


def _run_ray(todo, chapter, book, jobs, address, report, fingerprint, ship_files=None):
    try:
        import ray
    except ImportError:
        raise ParameterError(
            "--cluster ray needs Ray: pip install -e \".[cluster]\" (or pip install ray)"
        ) from None
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, jobs), include_dashboard=False, log_to_driver=False)
        started = True
    try:
        gpus = ray.cluster_resources().get("GPU", 0) >= 1
        # a remote cluster may not share this disk: its workers send the files back
        ship = bool(address) if ship_files is None else bool(ship_files)
        task_files = ray.remote(_ray_point_files)
        task_direct = ray.remote(_point_worker)
        refs = {}
        for p in todo:
            opts = {"num_cpus": 1}
            if gpus and p.parameters.get("device", "auto") != "cpu":
                opts["num_gpus"] = 1
            if ship:
                ref = task_files.options(**opts).remote(chapter, _overrides(p), str(book))
            else:
                ref = task_direct.options(**opts).remote(
                    chapter, _overrides(p), str(p.run_dir.parent), p.hash, str(book), fingerprint
                )
            refs[ref] = p
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                p = refs[ref]
                out = ray.get(ref)
                if ship:
                    where = _store_files(p.run_dir.parent, p.hash, out.pop("files"), out["ok"])
                    out["folder"] = str(where)
                if out.get("status") == "busy":
                    out = {"ok": False, "error": "run at the same time by another sweep; rerun"}
                report(p, out)
    finally:
        if started:
            ray.shutdown()


def _overrides(p: Point) -> dict[str, Any]:
    return {k: v for k, v in p.parameters.items() if k != "output_dir"}


# --------------------------------------------------------------------------- table + figure


def _cell(v: Any) -> Any:
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return v


def build_rows(
    points: Sequence[Point], grid_names: Sequence[str], sweep_dir: str | Path | None = None
) -> list[dict[str, Any]]:
    """One dict per point: bookkeeping, grid parameters, other parameters, flattened metrics.
    The ``run_dir`` column is the point's folder, relative to ``sweep_dir`` when given."""
    rows = []
    for p in points:
        row: dict[str, Any] = {
            "point": p.index,
            "hash": p.hash,
            "status": "ok" if p.status in ("ok", "skipped") else p.status,
            "seconds": p.seconds,
            "error": p.error,
        }
        params = _overrides(p)
        for name in grid_names:
            row[name] = _cell(params[name])
        for name, v in params.items():
            if name not in row:
                row[name] = _cell(v)
        mpath = p.run_dir / "metrics.json"
        if mpath.is_file():
            try:
                metrics = json.loads(mpath.read_text())
            except ValueError:
                metrics = {}
            for k, v in flatten(metrics).items():
                key = k if k not in row else f"metrics.{k}"
                row[key] = _cell(v)
        row["run_dir"] = (
            os.path.relpath(p.run_dir, sweep_dir) if sweep_dir is not None else str(p.run_dir)
        )
        rows.append(row)
    return rows


def write_table(rows: list[dict[str, Any]], path: Path, fmt: str = "csv") -> Path:
    """Write the rows with pandas (CSV, or Parquet through pyarrow)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def summary_figure(
    points: Sequence[Point],
    rows: Sequence[dict[str, Any]],
    grid_names: Sequence[str],
    path: Path,
    plot: Sequence[str] | None = None,
) -> Path:
    """Numeric scalar metrics against the first grid parameter, one line per combination of the
    other grid parameters (successful points only); PNG. ``plot`` holds glob patterns choosing the
    metric columns (default: the first 12 numeric metrics)."""
    from matplotlib.figure import Figure

    x_name = grid_names[0]
    others = list(grid_names[1:])
    reserved = {"point", "hash", "status", "seconds", "error", "run_dir"}
    params = set(_overrides(points[0])) if points else set()
    ok_rows = [r for r in rows if r["status"] == "ok"]
    metric_cols = []
    for r in ok_rows:
        for k, v in r.items():
            if k in reserved or k in params or k in metric_cols:
                continue
            if _is_number(v):
                metric_cols.append(k)
    if plot:
        metric_cols = [c for c in metric_cols if any(fnmatch.fnmatchcase(c, pat) for pat in plot)]
    metric_cols = metric_cols[:12]
    xs_raw = [r[x_name] for r in ok_rows]
    numeric_x = all(_is_number(v) for v in xs_raw) and bool(xs_raw)
    cats = list(dict.fromkeys(str(v) for v in xs_raw))
    n = max(1, len(metric_cols))
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    if not metric_cols:
        axes[0].text(0.5, 0.5, "no numeric metrics", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, metric in zip(axes[: len(metric_cols)], metric_cols, strict=True):
        groups: dict[str, list[tuple[Any, Any]]] = {}
        for r in ok_rows:
            label = ", ".join(f"{o}={r[o]}" for o in others)
            x = r[x_name] if numeric_x else cats.index(str(r[x_name]))
            y = r.get(metric)
            if _is_number(y):
                groups.setdefault(label, []).append((x, y))
        for label, pts in groups.items():
            pts.sort(key=lambda t: t[0])
            ax.plot([a for a, _ in pts], [b for _, b in pts], "o-", label=label or None)
        if not numeric_x:
            ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right")
        ax.set_xlabel(x_name)
        ax.set_title(metric, fontsize=10)
        if others and len(groups) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(f"sweep over {x_name}: {len(ok_rows)} successful points", fontsize=11)
    fig.savefig(path, dpi=120)
    return path


# --------------------------------------------------------------------------- driver


def run_sweep(
    chapter: str,
    grid: Sequence[str] | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    preset: str | Path | None = None,
    device: str | None = None,
    jobs: int = 1,
    cluster: str = "local",
    address: str | None = None,
    out: str | Path | None = None,
    fmt: str = "csv",
    book_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    plot: Sequence[str] | None = None,
    ship_files: bool | None = None,
    force: bool = False,
) -> SweepResult:
    """Run every grid point not already in the chapter's point store (``runs_dir/<chapter>/points/``,
    made by the same code), then write the table and the summary figure into the sweep folder
    (``out``, default ``runs_dir/<chapter>/sweep-<hash>/``).

    Args mirror ``python -m graphon sweep``; ``grid`` is ``["NAME=v1,v2", ...]`` or a mapping.
    ``ship_files`` (Ray only): run each point in a temporary folder on the worker and send its
    files back to this machine; default True with an ``address`` (a cluster whose disks may not
    be shared), False for a local Ray. ``plot``: glob patterns of the metric columns drawn in
    ``summary.png``. ``force``: run points whose memory estimate exceeds the free memory.

    Returns:
        :class:`SweepResult` (``result.failed`` lists points whose notebook raised).

    Raises:
        ParameterError: before anything runs, for any bad chapter, preset, grid or value, a point
        that breaks a rule of the chapter's declaration file or does not fit in memory, a bad
        ``jobs``/``cluster``/``fmt``, Parquet without pyarrow, an ``out`` that holds other files,
        or a folder that cannot be written.
    """
    log = log or (lambda msg: None)
    if fmt not in FORMATS:
        raise ParameterError(f"unknown table format {fmt!r}; choices: {'|'.join(FORMATS)}")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ParameterError(
                "--format parquet needs pyarrow (pip install pyarrow); or use --format csv"
            ) from None
    if cluster not in CLUSTERS:
        raise ParameterError(f"unknown cluster {cluster!r}; choices: {'|'.join(CLUSTERS)}")
    if address and cluster != "ray":
        raise ParameterError("--address only applies with --cluster ray")
    if isinstance(jobs, bool) or int(jobs) < 1:
        raise ParameterError(f"--jobs must be an integer >= 1, got {jobs!r}")
    jobs = int(jobs)
    book = (Path(book_dir) if book_dir is not None else default_book_dir()).resolve()
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir()

    chapter_path, specs, base = resolve_parameters(chapter, overrides, preset, device, book)
    typed_grid = parse_grid(specs, grid, chapter)
    clash = sorted(set(typed_grid) & set(overrides or {}))
    if clash:
        raise ParameterError(f"{', '.join(clash)} given both with -p and --grid; keep one")
    base = {k: v for k, v in base.items() if k != "output_dir"}
    if cluster == "local" and base.get("device") == "auto" and "device" not in typed_grid:
        base["device"] = _local_device()  # the point's hash names the device it really uses
    fixed = {k: v for k, v in base.items() if k not in typed_grid}
    sweep_hash = params_hash(chapter, {"fixed": fixed, "grid": typed_grid})
    sweep_dir = Path(out) if out is not None else runs / chapter / f"sweep-{sweep_hash}"
    sweep_dir = sweep_dir.resolve()
    store = (runs / chapter / POINTS).resolve()
    fingerprint = code_fingerprint(chapter_path)

    from .runner import check_memory, check_parameters

    points: list[Point] = []
    seen: set[str] = set()
    rules = None
    for gv in expand_grid(typed_grid):
        params = {**base, **gv}
        h = params_hash(chapter, params)
        if h in seen:
            continue  # repeated value in a --grid: one run is enough
        seen.add(h)
        try:  # every point is checked (declared rules, device, memory) before any runs
            rules = check_parameters(chapter, book, specs, params, force=True)
            if not force:
                check_memory(rules, params)
        except ParameterError as exc:
            raise ParameterError(f"point {_label_values(gv)}: {exc}") from None
        points.append(Point(len(points), gv, params, h, store / h))

    _claim_sweep_dir(sweep_dir, sweep_hash)
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(
            f"--runs-dir {str(runs)!r}: cannot create the point store there ({exc.strerror or exc})"
        ) from None
    meta = {
        "chapter": chapter,
        "sweep_hash": sweep_hash,
        "points_dir": str(store),
        "code_fingerprint": fingerprint,
        "preset": None if preset is None else str(preset),
        "grid": typed_grid,
        "fixed": fixed,
        "points": [{"hash": p.hash, **p.grid_values} for p in points],
    }
    (sweep_dir / "sweep.yaml").write_text(
        yaml.safe_dump(meta, sort_keys=False, default_flow_style=None)
    )

    todo = []
    for p in points:
        if run_is_complete(p.run_dir, fingerprint):
            p.status = "skipped"
            p.seconds = _seconds(p.run_dir)
            log(f"[{p.index + 1}/{len(points)}] {_label(p)}: already done, skipped")
        else:
            if run_is_complete(p.run_dir):
                old = run_fingerprint(p.run_dir) or "none recorded"
                log(
                    f"[{p.index + 1}/{len(points)}] {_label(p)}: done before by other code "
                    f"(fingerprint {old}, now {fingerprint}); running it again"
                )
            todo.append(p)
    log(
        f"sweep {chapter}: {len(points)} points, {len(points) - len(todo)} already done, "
        f"{len(todo)} to run ({cluster}, jobs={jobs}); points in {store}, table in {sweep_dir}"
    )

    def report(p: Point, outcome: Mapping[str, Any]) -> None:
        if outcome.get("status") == "skipped":  # another sweep finished it meanwhile
            p.status = "skipped"
            p.seconds = _seconds(p.run_dir)
            log(f"[{p.index + 1}/{len(points)}] {_label(p)}: done by another sweep meanwhile")
            return
        p.status = "ok" if outcome["ok"] else "failed"
        p.error = outcome.get("error")
        if outcome.get("folder"):
            p.run_dir = Path(outcome["folder"])
        p.seconds = None if outcome.get("seconds") is None else round(outcome["seconds"], 3)
        msg = "done" if outcome["ok"] else f"FAILED ({p.error}); notebook: {p.run_dir / (chapter + '.ipynb')}"
        secs = f" in {p.seconds:.1f} s" if p.seconds is not None and outcome["ok"] else ""
        log(f"[{p.index + 1}/{len(points)}] {_label(p)}: {msg}{secs}")

    if todo:
        if cluster == "ray":
            _run_ray(todo, chapter, book, jobs, address, report, fingerprint, ship_files)
        else:
            _run_local(todo, chapter, book, jobs, report, sweep_dir, store, fingerprint, log)

    rows = build_rows(points, list(typed_grid), sweep_dir)
    table = write_table(rows, sweep_dir / f"results.{'parquet' if fmt == 'parquet' else 'csv'}", fmt)
    figure = None
    try:
        figure = summary_figure(points, rows, list(typed_grid), sweep_dir / "summary.png", plot)
    except Exception as exc:  # a figure problem must not lose the table
        log(f"summary figure skipped: {exc}")
    return SweepResult(chapter, sweep_dir, table, figure, points)


def _claim_sweep_dir(sweep_dir: Path, sweep_hash: str) -> None:
    """Make the sweep folder, or reuse it only when it is empty or holds this same sweep (a resume).

    Raises:
        ParameterError: ``--out`` holds other files (they would be overwritten) or cannot be written.
    """
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        entries = [e for e in sweep_dir.iterdir()]
        if entries:
            info = {}
            with contextlib.suppress(OSError, yaml.YAMLError):
                info = yaml.safe_load((sweep_dir / "sweep.yaml").read_text()) or {}
            if not isinstance(info, dict) or info.get("sweep_hash") != sweep_hash:
                names = ", ".join(sorted(e.name for e in entries)[:4])
                raise ParameterError(
                    f"--out {str(sweep_dir)!r} already holds files ({names}) that are not this "
                    "sweep's; choose a new folder"
                )
        probe = sweep_dir / ".graphon-write-test"
        probe.touch()
        probe.unlink()
    except ParameterError:
        raise
    except OSError as exc:
        raise ParameterError(
            f"--out {str(sweep_dir)!r}: cannot write the sweep folder there ({exc.strerror or exc})"
        ) from None


def _label_values(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


def _local_device() -> str:
    """What ``device: auto`` means on this machine (``cuda`` when torch sees a GPU, else ``cpu``)."""
    from ..device import resolve_device

    return resolve_device("auto").type


def _label(p: Point) -> str:
    return " ".join(f"{k}={v}" for k, v in p.grid_values.items())


def _seconds(run_dir: Path) -> float | None:
    try:
        info = yaml.safe_load((run_dir / "run.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    return info.get("seconds")
