"""Time the NTK computations of :mod:`graphon.ntk`.

Three workloads:

* ``empirical``: the empirical NTK of ``S`` masked one-hidden-layer networks ``d -> n -> 1``
  (:func:`graphon.ntk.empirical_ntk`, torch.func Jacobian contraction, all seeds vmapped) on ``N``
  inputs, at widths ``n``;
* ``graphon``: the analytic one-hidden-layer Graphon-NTK (:func:`graphon.ntk.graphon_ntk`) of a
  ``(K, d)`` step graphon on ``N`` inputs, one graphon and a batch of ``B`` graphons in one call;
* ``deep``: the two-hidden-layer step-graphon recursion (:func:`graphon.ntk.graphon_ntk_deep`).

Each timing is the best of ``--repeat`` runs (after one warm-up). Results are printed as a table
and, with ``--json``, written to a file.

Usage::

    python benchmarks/bench_ntk.py              # n = 512, 2048; N = 64, 256; d = 64
    python benchmarks/bench_ntk.py --quick      # small sizes (seconds)
    python benchmarks/bench_ntk.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphon import ntk  # noqa: E402
from graphon.device import resolve_device  # noqa: E402
from graphon.models import MaskedMLP  # noqa: E402


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _best(fn, dev: torch.device, repeat: int) -> float:
    fn()
    _sync(dev)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(dev)
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=[512, 2048])
    p.add_argument("--points", type=int, nargs="+", default=[64, 256])
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--blocks", type=int, default=16)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--batch", type=int, default=32, help="graphons per batched Graphon-NTK call")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    if a.quick:
        a.widths, a.points, a.seeds, a.batch, a.repeat = [128, 512], [32, 64], 2, 8, 1
    dev = resolve_device(a.device)
    g = torch.Generator().manual_seed(0)
    table = 0.1 + 0.8 * torch.rand(a.blocks, a.d, generator=g)
    tables = 0.1 + 0.8 * torch.rand(a.batch, a.blocks, a.d, generator=g)
    rows = []
    for n_pts in a.points:
        x = torch.randn(n_pts, a.d, generator=g).to(dev)
        t1 = _best(lambda x=x: ntk.graphon_ntk(x, None, table, device=dev), dev, a.repeat)
        rows.append({"workload": "graphon", "N": n_pts, "n": "-", "B": 1, "seconds": t1})
        tb = _best(lambda x=x: ntk.graphon_ntk(x, None, tables, device=dev), dev, a.repeat)
        rows.append(
            {"workload": "graphon (batched)", "N": n_pts, "n": "-", "B": a.batch, "seconds": tb}
        )
        deep = [table, 0.1 + 0.8 * torch.rand(a.blocks, a.blocks, generator=g)]
        td = _best(
            lambda x=x, deep=deep: ntk.graphon_ntk_deep(x, None, deep, device=dev), dev, a.repeat
        )
        rows.append({"workload": "deep (L=2)", "N": n_pts, "n": "-", "B": 1, "seconds": td})
        for n in a.widths:
            model = MaskedMLP(a.d, [n], seeds=a.seeds, device=dev)
            masks = ntk.first_layer_masks(table, n, a.d, seeds=a.seeds, device=dev)
            model.set_masks([masks, None])
            te = _best(lambda m=model, x=x: ntk.empirical_ntk(m, x, chunk_size=64), dev, a.repeat)
            rows.append({"workload": "empirical", "N": n_pts, "n": n, "B": a.seeds, "seconds": te})
    print(f"device: {dev}, d = {a.d}, K = {a.blocks}, threads = {torch.get_num_threads()}")
    print(f"{'workload':<20}{'N':>6}{'n':>7}{'B/S':>6}{'seconds':>11}{'per kernel':>12}")
    for r in rows:
        per = r["seconds"] / r["B"]
        print(
            f"{r['workload']:<20}{r['N']:>6}{r['n']!s:>7}{r['B']:>6}{r['seconds']:>11.4f}{per:>12.4f}"
        )
    if a.json:
        a.json.write_text(json.dumps({"device": str(dev), "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
