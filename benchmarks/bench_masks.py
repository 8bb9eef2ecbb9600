"""Time mask generation for many seeds: batched (one tensor computation, in seed chunks) vs one seed
at a time.

Two workloads, each at widths n (default 1000 and 4000) with ``--seeds`` seeds (default 100):

* ``fsm``: sample masks from the heterogeneous Factorised Saliency Model and threshold them at the
  density (:meth:`graphon.saliency_model.FactorisedSaliencyModel.sample_masks`), masks ``(S, n, d)``;
* ``prune-<method>``: prune a one-hidden-layer masked network ``d -> n -> 1``
  (:class:`graphon.models.MaskedMLP`) globally at the density with :func:`graphon.pruning.prune`
  (``magnitude``: data-free; ``snip``: one gradient on a batch of ``--batch`` Gaussian inputs).

"batched" computes ``--seed-batch`` seeds per tensor call; "loop" calls the same function once per
seed. Both give identical masks (seed ``s`` always draws the same numbers), which is checked on the
first seeds. Results are printed as a table and, with ``--json``, written to a file.

Usage::

    python benchmarks/bench_masks.py                 # n = 1000, 4000; 100 seeds; d = 256
    python benchmarks/bench_masks.py --quick         # n = 200, 500; 20 seeds (seconds)
    python benchmarks/bench_masks.py --device cuda --seed-batch 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphon import pruning  # noqa: E402
from graphon.device import resolve_device  # noqa: E402
from graphon.models import MaskedMLP  # noqa: E402


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, dev: torch.device) -> float:
    _sync(dev)
    t = time.perf_counter()
    fn()
    _sync(dev)
    return time.perf_counter() - t


def fsm_runner(n: int, d: int, density: float, dev: torch.device):
    """Batched and one-seed-at-a-time sampling from the heterogeneous Factorised Saliency Model."""
    from graphon.saliency_model import FactorisedSaliencyModel

    model = FactorisedSaliencyModel.heterogeneous()

    def run(seed_list: list[int], seed_batch: int) -> torch.Tensor:
        # reduce every chunk to its kept fraction so that memory stays bounded for 100 x 4000 x d
        kept = []
        for i in range(0, len(seed_list), seed_batch):
            chunk = seed_list[i:i + seed_batch]
            m = model.sample_masks(n, d, density, chunk, device=dev, seed_batch=len(chunk)).masks
            kept.append(m.float().mean(dim=(-2, -1)))
        return torch.cat(kept)

    def first(seed_list: list[int]) -> torch.Tensor:
        return model.sample_masks(n, d, density, seed_list, device=dev, seed_batch=len(seed_list)).masks

    return run, first


def prune_runner(method: str, n: int, d: int, density: float, dev: torch.device, batch: int):
    """Batched and one-seed-at-a-time pruning of MaskedMLP(d, [n], 1)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, d, generator=g).to(dev)
    y = torch.sign(x[:, :8].sum(dim=1)).to(dev)

    def masks_for(seed_list: list[int]) -> torch.Tensor:
        net = MaskedMLP(d, [n], d_out=1, activation="relu", seeds=seed_list, device=dev)
        res = pruning.prune(net, method, density, x, y, apply=False, keep_scores=False)
        return res.masks[0]

    def run(seed_list: list[int], seed_batch: int) -> torch.Tensor:
        kept = []
        for i in range(0, len(seed_list), seed_batch):
            kept.append(masks_for(seed_list[i:i + seed_batch]).mean(dim=(-2, -1)))
        return torch.cat(kept)

    return run, masks_for


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--quick", action="store_true", help="small sizes (n = 200, 500; 20 seeds)")
    ap.add_argument("--widths", type=int, nargs="+", default=None, help="widths n (default 1000 4000)")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 100)")
    ap.add_argument("--d", type=int, default=256, help="input side d of the masks (default 256)")
    ap.add_argument("--density", type=float, default=0.2)
    ap.add_argument("--seed-batch", type=int, default=25, help="seeds per batched call")
    ap.add_argument("--batch", type=int, default=128, help="data batch for snip")
    ap.add_argument("--workloads", nargs="+", default=["fsm", "prune-magnitude", "prune-snip"],
                    help="any of fsm, prune-random, prune-magnitude, prune-snip, prune-grasp")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args(argv)

    dev = resolve_device(args.device)
    widths = args.widths or ([200, 500] if args.quick else [1000, 4000])
    n_seeds = args.seeds or (20 if args.quick else 100)
    seed_list = list(range(n_seeds))
    threads = torch.get_num_threads()
    print(f"device {dev}, torch {torch.__version__}, {threads} threads; {n_seeds} seeds, d = {args.d}, "
          f"density {args.density}, seed_batch {args.seed_batch}")
    rows = []
    header = f"{'workload':<18}{'n':>6}{'batched s':>12}{'loop s':>10}{'loop/batched':>14}"
    print(header)
    print("-" * len(header))
    for wl in args.workloads:
        for n in widths:
            if wl == "fsm":
                run, first = fsm_runner(n, args.d, args.density, dev)
            elif wl.startswith("prune-"):
                run, first = prune_runner(wl[len("prune-"):], n, args.d, args.density, dev, args.batch)
            else:
                raise SystemExit(f"unknown workload {wl!r}")
            # same masks batched or alone (checked on two seeds)
            both = first(seed_list[:2])
            alone = torch.cat([first([s]) for s in seed_list[:2]])
            same = bool(torch.equal(both.bool(), alone.bool()))
            run(seed_list[:2], 2)  # warm-up
            t_batch = _timed(lambda run=run: run(seed_list, args.seed_batch), dev)
            t_loop = _timed(lambda run=run: run(seed_list, 1), dev)
            row = {"workload": wl, "n": n, "d": args.d, "seeds": n_seeds, "batched_s": t_batch,
                   "loop_s": t_loop, "ratio": t_loop / t_batch, "same_masks": same}
            rows.append(row)
            flag = "" if same else "  (masks differ!)"
            print(f"{wl:<18}{n:>6}{t_batch:>12.2f}{t_loop:>10.2f}{t_loop / t_batch:>14.2f}{flag}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": str(dev), "threads": threads, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
