"""Measure how a chapter's wall time and peak memory grow with its size n and its seeds.

Runs ``python -m graphon run CHAPTER`` at a few tiny settings (each in a fresh process, timed by
``/usr/bin/time -f %M`` for the peak resident memory of the process tree it waited for) and writes
one YAML record per run to ``--out`` (wall time, CPU time of the process tree, peak memory);
``--fit FILE`` fits the cost model of ``book/rules/<chapter>.yaml`` to those records. Run it under ``nice`` on a quiet machine:

    nice -n 15 python scripts/measure_run_cost.py convergence --out runs/cost/convergence.yaml
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

#: Per chapter: the fixed tiny parameters, the settings that vary n (at 2 seeds) and seeds (at one n).
PLANS = {
    "convergence": {
        "fixed": {"n_data": 64, "blocks": 4, "distance_seeds": 1, "seed_batch": 2,
                  "device": "cpu"},
        "n": [{"widths": [n // 2, n]} for n in (128, 256, 512)],
        "seeds_at": {"widths": [128, 256]},
        "seeds": [2, 8],
        "seed_extra": lambda s: {"seed_batch": s},
    },
    "expressivity": {
        "fixed": {"core_widths": [10, 30], "core_seeds": 10, "ks": [1, 2], "fit_ks": [2],
                  "ds": [16], "n_train": 1024, "n_test": 256, "epochs": 1, "failure_epochs": 1,
                  "device": "cpu"},
        "n": [{"widths": [n // 2, n]} for n in (64, 128, 256)],
        "seeds_at": {"widths": [64, 128]},
        "seeds": [2, 8],
        "seed_extra": lambda s: {},
    },
    "generalisation": {
        "fixed": {"n_samples": 40, "ntk_points": 10, "epochs": 20, "blocks": 4,
                  "device": "cpu"},
        "n": [{"width": n, "widths": [n // 2, n], "train_width": n} for n in (64, 128, 256)],
        "seeds_at": {"width": 128, "widths": [64, 128], "train_width": 128},
        "seeds": [2, 8],
        "seed_extra": lambda s: {},
    },
}


def _p(values: dict) -> list[str]:
    out = []
    for k, v in values.items():
        if isinstance(v, list):
            v = ",".join(str(x) for x in v)
        out += ["-p", k, str(v)]
    return out


def measure(chapter: str, values: dict, workdir: Path) -> dict:
    out = Path(tempfile.mkdtemp(dir=workdir))
    cmd = ["/usr/bin/time", "-f", "MAXRSS_KB %M CPU_S %U %S", sys.executable, "-m", "graphon", "run", chapter,
           "--out", str(out / "run"), *_p(values)]
    env = {**os.environ, "GRAPHON_PROGRESS": "0", "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    stats = next((line.split() for line in proc.stderr.splitlines()
                  if line.startswith("MAXRSS_KB")), None)
    rss = int(stats[1]) if stats else None
    cpu = round(float(stats[3]) + float(stats[4]), 2) if stats else None
    run = yaml.safe_load((out / "run" / "run.yaml").read_text()) if (out / "run" / "run.yaml").exists() else {}
    return {"parameters": values, "exit": proc.returncode, "wall_s": round(wall, 2),
            "run_s": run.get("seconds"), "cpu_s": cpu, "peak_rss_mb": None if rss is None else round(rss / 1024, 1),
            "error": None if proc.returncode == 0 else proc.stderr.strip().splitlines()[-3:]}


def _size(chapter: str, values: dict) -> float:
    """The ``n`` of the chapter's cost model (``cost.n`` of its declaration file)."""
    sys.path.insert(0, str(ROOT))
    from graphon.runs.params import parse_chapter
    from graphon.runs.rules import load_rules

    specs = parse_chapter(ROOT / "book" / f"{chapter}.md")
    rules = load_rules(chapter, ROOT / "book", [s.name for s in specs])
    full = {s.name: s.default for s in specs} | values
    return float(rules.cost_n(full))


def fit(path: str) -> dict:
    """Fit ``cpu = fixed + scale * (n / n_ref)^a * (seeds / 2)^b`` to the records of one chapter:
    ``fixed``, ``scale`` and ``a`` from the runs at 2 seeds (three sizes: an exact fit), ``b`` from
    the runs at more seeds, at ``n_ref`` (the size where the seeds vary). CPU time (user + system of
    the process tree) is fitted rather than wall time: it does not grow when other processes share
    the machine."""
    import numpy as np
    from scipy.optimize import brentq

    data = yaml.safe_load(Path(path).read_text())
    chapter, recs = data["chapter"], [r for r in data["records"] if r["exit"] == 0]
    at2 = sorted((_size(chapter, r["parameters"]), r.get("cpu_s") or r["run_s"]) for r in recs if r["parameters"]["seeds"] == 2)
    more = [r for r in recs if r["parameters"]["seeds"] != 2]
    n_ref = _size(chapter, more[0]["parameters"]) if more else at2[len(at2) // 2][0]
    (n1, t1), (n2, t2), (n3, t3) = at2[-3:]
    ratio = (t3 - t2) / (t2 - t1) if t2 > t1 else float("nan")

    def g(a):  # (n3^a - n2^a) / (n2^a - n1^a) - ratio
        return (n3**a - n2**a) / (n2**a - n1**a) - ratio

    try:
        a = brentq(g, 0.05, 6.0)
    except ValueError:  # no interior solution: fall back to the log-log slope of the variable part
        a = float(np.log(max(t3 - t1, 1e-9) / max(t2 - t1, 1e-9)) / np.log(n3 / n2))
    c = (t2 - t1) / (n2**a - n1**a)
    fixed = t1 - c * n1**a
    scale = c * n_ref**a
    b = None
    if more:
        r = more[-1]
        s, tt = r["parameters"]["seeds"], r.get("cpu_s") or r["run_s"]
        b = float(np.log(max(tt - fixed, 1e-9) / scale) / np.log(s / 2)) if tt > fixed else 0.0
    return {"chapter": chapter, "exponent_n": round(float(a), 2), "exponent_seeds": None if b is None else round(b, 2),
            "fixed_s": round(float(fixed), 1), "scale_s": round(float(scale), 1), "n_ref": n_ref,
            "records": [(round(_size(chapter, r["parameters"])), r["parameters"]["seeds"], r.get("cpu_s"), r["wall_s"], r["peak_rss_mb"]) for r in recs]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapter", nargs="?", choices=sorted(PLANS))
    ap.add_argument("--out")
    ap.add_argument("--fit", metavar="FILE", help="fit the cost model to a file of records; print it")
    args = ap.parse_args()
    if args.fit:
        print(yaml.safe_dump(fit(args.fit), sort_keys=False, default_flow_style=None))
        return 0
    if not (args.chapter and args.out):
        ap.error("give CHAPTER and --out (or --fit FILE)")
    plan = PLANS[args.chapter]
    settings = [{**plan["fixed"], **nv, "seeds": 2} for nv in plan["n"]]
    settings += [{**plan["fixed"], **plan["seeds_at"], "seeds": s, **plan["seed_extra"](s)}
                 for s in plan["seeds"] if s != 2]
    work = Path(tempfile.mkdtemp(prefix=f"cost-{args.chapter}-"))
    records = []
    for values in settings:
        rec = measure(args.chapter, values, work)
        print(rec, flush=True)
        records.append(rec)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(yaml.safe_dump({
            "chapter": args.chapter, "host": platform.node(), "cpus": os.cpu_count(),
            "load_before": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "records": records}, sort_keys=False, default_flow_style=None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
