"""Time the NTK computations of :mod:`graphon.ntk`, with peak memory.

Workloads:

* ``empirical``: the empirical NTK of ``S`` masked one-hidden-layer networks ``d -> n -> 1``
  (:func:`graphon.ntk.empirical_ntk`) on ``N`` inputs, by the per-layer formula (``layers``, the
  default: never forms the Jacobian) and by torch.func Jacobians (``jacobian``), at widths ``n``.
  The first layer is masked by Bernoulli draws from a ``(K, d)`` step graphon with values in
  [0.1, 0.9] (mean density 0.5). The default size is the issue's: ``n = 4096, N = 1000``.
* ``graphon``: the analytic one-hidden-layer Graphon-NTK (:func:`graphon.ntk.graphon_ntk`) of a
  ``(K, d)`` step graphon on ``N`` inputs, one graphon and a batch of ``B`` graphons in one call;
* ``deep``: the two-hidden-layer step-graphon recursion (:func:`graphon.ntk.graphon_ntk_deep`);
* ``fixed-d``: the fixed-``d`` limit (:func:`graphon.ntk.graphon_ntk_fixed_d`, 1024 mask rows per
  block).

Every timing is reported as min and median over ``--repeat`` runs (>= 3 by default, after one
warm-up). Each workload runs in a **fresh subprocess**, whose peak resident memory
(``ru_maxrss``) is reported next to the memory after setup (inputs, model), so that one
workload's peak does not hide another's. The machine's float64 matmul throughput is measured in
the same run (one ``2048 x 2048`` product) and each empirical-NTK time is compared with the time
of its floating-point work at that throughput (``N1 N2`` times the number of weights that enter
the contraction, twice, for the Jacobian path; for the per-layer path the pruned/kept entries of
the masked layer plus the two dense Gram matrices).

Usage::

    python benchmarks/bench_ntk.py                         # n = 4096, N = 1000 (a few minutes)
    python benchmarks/bench_ntk.py --quick                 # n = 512, N = 200 (seconds)
    python benchmarks/bench_ntk.py --workloads graphon deep --points 64 256
    python benchmarks/bench_ntk.py --device cuda --json out.json
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

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphon import ntk  # noqa: E402
from graphon.device import resolve_device  # noqa: E402
from graphon.models import MaskedMLP  # noqa: E402

WORKLOADS = ("empirical-layers", "empirical-jacobian", "graphon", "graphon-batched", "deep",
             "fixed-d")


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _times(fn, dev: torch.device, repeat: int) -> list[float]:
    fn()
    _sync(dev)
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(dev)
        out.append(time.perf_counter() - t)
    return out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _matmul_gflops(dev: torch.device) -> float:
    a = torch.randn(2048, 2048, dtype=torch.float64, device=dev)
    t = min(_times(lambda: a @ a, dev, 3))
    return 2 * 2048**3 / t / 1e9


def _one(a) -> dict:
    """Run one workload in this process; returns its row."""
    dev = resolve_device(a.device)
    g = torch.Generator().manual_seed(0)
    table = 0.1 + 0.8 * torch.rand(a.blocks, a.d, generator=g)
    x = torch.randn(a.points, a.d, generator=g).to(dev)
    row = {"workload": a.run, "N": a.points, "n": "-", "S": 1}
    flops = None
    if a.run.startswith("empirical"):
        method = a.run.split("-")[1]
        model = MaskedMLP(a.d, [a.width], seeds=a.seeds, device=dev)
        masks = ntk.first_layer_masks(table, a.width, a.d, seeds=a.seeds, device=dev)
        model.set_masks([masks, None])
        kept = float(masks.sum(dim=(1, 2)).max())
        dense = a.width * a.d
        n_w = dense + a.width
        if method == "jacobian":
            flops = 2 * a.points**2 * n_w * a.seeds
        else:
            flops = 2 * a.points**2 * (min(kept, dense - kept) + 2 * a.width + a.d) * a.seeds
        row.update(n=a.width, S=a.seeds)

        def fn():
            return ntk.empirical_ntk(model, x, method=method, chunk_size=a.chunk)
    elif a.run == "graphon":
        def fn():
            return ntk.graphon_ntk(x, None, table, device=dev)
    elif a.run == "graphon-batched":
        tables = 0.1 + 0.8 * torch.rand(a.batch, a.blocks, a.d, generator=g)
        row["S"] = a.batch

        def fn():
            return ntk.graphon_ntk(x, None, tables, device=dev)
    elif a.run == "deep":
        deep = [table, 0.1 + 0.8 * torch.rand(a.blocks, a.blocks, generator=g)]

        def fn():
            return ntk.graphon_ntk_deep(x, None, deep, device=dev)
    else:
        def fn():
            return ntk.graphon_ntk_fixed_d(x, None, table, samples=1024, device=dev)
    base = _rss_mb()
    ts = _times(fn, dev, a.repeat)
    row.update(
        min_s=min(ts), median_s=statistics.median(ts), repeats=len(ts),
        setup_rss_mb=base, peak_rss_mb=_rss_mb(), flops=flops,
    )
    if dev.type == "cuda":
        row["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=4096, help="hidden width n (empirical NTK)")
    p.add_argument("--points", type=int, default=1000, help="inputs N")
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--blocks", type=int, default=16)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--batch", type=int, default=32, help="graphons per batched Graphon-NTK call")
    p.add_argument("--chunk", type=int, default=256, help="rows per Jacobian chunk (jacobian)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    p.add_argument("--quick", action="store_true", help="n = 512, N = 200")
    p.add_argument("--json", type=Path)
    p.add_argument("--run", help=argparse.SUPPRESS)  # internal: one workload in a subprocess
    a = p.parse_args(argv)
    if a.quick:
        a.width, a.points = 512, 200
    if a.run:
        print(json.dumps(_one(a)))
        return []
    dev = resolve_device(a.device)
    gflops = _matmul_gflops(dev)
    rows = []
    for w in a.workloads:
        cmd = [sys.executable, __file__, "--run", w, "--width", str(a.width), "--points",
               str(a.points), "--d", str(a.d), "--blocks", str(a.blocks), "--seeds", str(a.seeds),
               "--batch", str(a.batch), "--chunk", str(a.chunk), "--repeat", str(a.repeat),
               "--device", a.device]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"device: {dev}, d = {a.d}, K = {a.blocks}, threads = {torch.get_num_threads()}, "
          f"float64 matmul {gflops:.1f} GFLOP/s")
    print(f"{'workload':<20}{'N':>6}{'n':>6}{'S/B':>5}{'min s':>9}{'median s':>10}"
          f"{'setup MB':>10}{'peak MB':>9}{'at-limit s':>11}{'ratio':>7}")
    for r in rows:
        lim = r["flops"] / (gflops * 1e9) if r["flops"] else None
        lim_s = f"{lim:>11.2f}" if lim else f"{'-':>11}"
        ratio = f"{r['min_s'] / lim:>7.1f}" if lim else f"{'-':>7}"
        print(f"{r['workload']:<20}{r['N']:>6}{r['n']!s:>6}{r['S']:>5}{r['min_s']:>9.3f}"
              f"{r['median_s']:>10.3f}{r['setup_rss_mb']:>10.0f}{r['peak_rss_mb']:>9.0f}"
              f"{lim_s}{ratio}")
    if a.json:
        a.json.write_text(json.dumps({"device": str(dev), "matmul_gflops": gflops, "rows": rows},
                                     indent=2))
    return rows


if __name__ == "__main__":
    main()
