"""Mask generation against a plain loop and against the machine's limits, in one run.

For the hidden layer ``n x n`` of the digits MLP ``64 -> n -> n -> 10`` (the convergence chapter's
studied layer, pruned alone at exactly rho = 0.2), ``S`` seeds:

* ``package``: the package's path (``MaskedMLP`` for the seeds, in chunks of
  :func:`graphon.paper_bundle.seed_chunk`, then ``pruning.prune(..., layers=[1], scope="layer")``,
  or for SNIP/GraSP the bundle's scoring pass and ``selection.keep_top``);
* ``numpy-loop``: the loop a user would write, one seed at a time: numpy's generator draws the
  scores (random) or the weights (magnitude); for SNIP/GraSP one seed's network and gradient pass
  (the package's scoring code, one seed at a time); ``np.partition`` finds the k-th value, ``>=``
  makes the mask;
* ``topk-loop``: the same with ``torch.topk`` per seed.

Random pruning needs no weights: the package draws its kept set directly
(:func:`graphon.selection.random_subset`). Every configuration runs in its own process; its
memory is the peak resident memory of the timed section above the memory before it (Linux
``/proc/self/clear_refs``, ``VmHWM``). Min and
median over ``--repeat`` repetitions. The machine's limits are measured in the same run: memory
bandwidth (a 512 MiB copy) and float32 matmul throughput (``n x n`` by ``n x 256``). The "limit"
of a configuration is the bytes it must touch over the bandwidth (scores written and read, mask
written: ``9 N`` bytes per seed for ``N = n^2`` weights; for Random ``2 N``: one random byte and the
mask) plus, for SNIP/GraSP, the FLOPs of the scoring pass over the matmul throughput (SNIP: forward
and the hidden layer's gradient outer product, ``6 B n^2``; GraSP: about ``14 B n^2`` with the
Hessian-gradient product's double backward; ``B`` = 256 scoring images).

Usage::

    python benchmarks/bench_masks.py                       # n = 1000, 2000, 4000; S = 10; 3 repeats
    python benchmarks/bench_masks.py --quick               # n = 500, 1000; S = 4; 2 repeats
    python benchmarks/bench_masks.py --seeds 100 --json out.json
    python benchmarks/bench_masks.py --cut-distance        # + the cut-distance estimate at n = 4000, K = 64
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RHO = 0.2
B = 256


# ------------------------------------------------------------------------------ one configuration


def _run_one(impl: str, method: str, n: int, seeds: int) -> dict:
    """Run one configuration in this process; returns seconds and peak RSS (MiB)."""
    from graphon import paper_bundle, pruning
    from graphon.models import MaskedMLP
    from graphon.selection import keep_top, kept_count, random_subset

    seed_list = list(range(seeds))
    k = kept_count(RHO, n * n)
    x, y = paper_bundle._scoring_batch(paper_bundle.PAPER, torch.device("cpu"))
    scored = method in ("snip", "grasp")
    source = "grasp_signed" if method == "grasp" else method

    def scores_of(model) -> torch.Tensor:
        sc = paper_bundle._layer_scores(model, source, x, y)
        return sc.abs() if method == "grasp" else sc

    base = _reset_peak()
    t0 = time.perf_counter()
    kept = 0
    if impl == "package":
        chunk = paper_bundle.seed_chunk(4 * n * n * (12 if scored else 4), torch.device("cpu"))
        for i in range(0, seeds, chunk):
            part = seed_list[i : i + chunk]
            if method == "random":  # Random pruning needs no weights: the kept set directly
                gens = [pruning._subset_generator(0, 1, s) for s in part]
                keep = random_subset(gens, n * n, k)
            else:
                model = MaskedMLP(64, [n, n], d_out=10, seeds=part, device="cpu")
                if scored:
                    keep = keep_top(scores_of(model).flatten(1), k)
                else:
                    keep = pruning.prune(model, method, RHO, layers=[1], scope="layer", apply=False,
                                         keep_scores=False).keep[1]
            kept += _count(keep)
    else:
        for s in seed_list:
            rng = np.random.default_rng(s)
            if method == "random":
                a = rng.random(n * n, dtype=np.float32)
            elif method == "magnitude":
                a = np.abs(rng.standard_normal(n * n, dtype=np.float32))
            else:  # the gradient pass of one seed, as a loop over seeds would do it
                a = scores_of(MaskedMLP(64, [n, n], d_out=10, seeds=[s], device="cpu"))[0].numpy().ravel()
            if impl == "numpy-loop":
                thr = np.partition(a, a.size - k)[a.size - k]
                mask = a >= thr
            else:
                t = torch.from_numpy(a)
                thr = t.topk(k, sorted=False).values.min()
                mask = t >= thr
            kept += _count(mask)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_mib": (_peak() - base) / 1024, "kept_per_seed": kept / seeds}


def _count(mask) -> int:
    """Kept entries, counted the same (fast) way for every implementation."""
    return int(np.count_nonzero(mask.numpy() if isinstance(mask, torch.Tensor) else mask))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> int:
    """Reset the peak resident memory (Linux ``clear_refs`` 5); returns the current RSS (KiB)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover - not Linux: the peak then includes the imports
        pass
    return _status_kib("VmRSS")


def _peak() -> int:
    """Peak resident memory since the last reset (KiB)."""
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _in_subprocess(impl: str, method: str, n: int, seeds: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", impl, method, str(n), str(seeds)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ machine limits


def probes(repeat: int = 3) -> dict:
    """Memory bandwidth (bytes/s, read + write of a 512 MiB copy) and float32 matmul FLOP/s."""
    a = torch.empty(128 << 20, dtype=torch.float32).fill_(1.0)
    b = torch.empty_like(a)
    t = min(_timed(lambda: b.copy_(a)) for _ in range(repeat))
    bandwidth = 2 * a.numel() * 4 / t
    m = torch.randn(2000, 2000)
    v = torch.randn(2000, 256)
    t = min(_timed(lambda: m @ v) for _ in range(repeat))
    return {"bandwidth_Bps": bandwidth, "matmul_flops": 2 * 2000 * 2000 * 256 / t}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def limit_seconds(method: str, n: int, seeds: int, lim: dict) -> float:
    """The configuration's lower bound from bytes and FLOPs (see the module docstring)."""
    N = n * n
    bytes_ = (2 if method == "random" else 9) * N
    flops = {"snip": 6, "grasp": 14}.get(method, 0) * B * N
    return seeds * (bytes_ / lim["bandwidth_Bps"] + flops / lim["matmul_flops"])


def cut_distance_time(n: int = 4000, blocks: int = 64, repeat: int = 3) -> dict:
    """Seconds of ``graphons.cut_distance`` of one Random mask at ``n`` against a ``K x K`` graphon."""
    from graphon import graphons
    from graphon.selection import random_subset

    mask = random_subset([np.random.default_rng(0)], n * n, round(RHO * n * n)).reshape(1, n, n)
    ref = torch.full((blocks, blocks), RHO)
    times = [_timed(lambda: graphons.cut_distance(mask, ref)) for _ in range(repeat)]
    return {"n": n, "K": blocks, "min_s": min(times), "median_s": statistics.median(times)}


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--one", nargs=4, metavar=("IMPL", "METHOD", "N", "SEEDS"), help=argparse.SUPPRESS)
    ap.add_argument("--widths", type=int, nargs="+", default=[1000, 2000, 4000])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=["random", "magnitude", "snip", "grasp"])
    ap.add_argument("--quick", action="store_true", help="n = 500, 1000; 4 seeds; 2 repeats")
    ap.add_argument("--cut-distance", action="store_true", help="also time the cut distance at n = 4000")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    if args.one:
        impl, method, n, seeds = args.one
        print(json.dumps(_run_one(impl, method, int(n), int(seeds))))
        return 0
    if args.quick:
        args.widths, args.seeds, args.repeat = [500, 1000], 4, 2
    lim = probes()
    print(f"machine: bandwidth {lim['bandwidth_Bps'] / 1e9:.1f} GB/s, float32 matmul "
          f"{lim['matmul_flops'] / 1e9:.1f} GFLOP/s, {torch.get_num_threads()} threads, torch {torch.__version__}")
    rows = []
    head = ("method", "n", "impl", "s/seed min", "s/seed median", "x limit", "peak MiB", "loop/package")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for method in args.methods:
        for n in args.widths:
            limit = limit_seconds(method, n, args.seeds, lim) / args.seeds
            results = {}
            for impl in ("package", "numpy-loop", "topk-loop"):
                runs = [_in_subprocess(impl, method, n, args.seeds) for _ in range(args.repeat)]
                per = [r["seconds"] / args.seeds for r in runs]
                results[impl] = (min(per), statistics.median(per), max(r["peak_mib"] for r in runs))
            for impl, (mn, med, peak) in results.items():
                ratio = results[impl][0] / results["package"][0] if impl != "package" else 1.0
                row = {"method": method, "n": n, "impl": impl, "min_s_per_seed": mn,
                       "median_s_per_seed": med, "x_limit": mn / limit, "peak_mib": peak,
                       "loop_over_package": ratio}
                rows.append(row)
                print(f"| {method} | {n} | {impl} | {mn:.3f} | {med:.3f} | {mn / limit:.1f} | "
                      f"{peak:.0f} | {ratio:.2f} |", flush=True)
    out = {"machine": lim, "threads": torch.get_num_threads(), "seeds": args.seeds, "rows": rows}
    if args.cut_distance:
        out["cut_distance"] = cut_distance_time()
        print(f"cut distance n = 4000, K = 64: min {out['cut_distance']['min_s']:.2f} s, "
              f"median {out['cut_distance']['median_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
