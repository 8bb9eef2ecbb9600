"""The paper-scale convergence results (Figs 1, 3, 4, 5): computed once, resumably, kept as data.

One job: run the paper's settings of the convergence experiment point by point, store each point's
small outputs with provenance under ``results/paper/``, and read them back. A point is one
(activation, width) pair for the data-driven criteria (SNIP, GraSP, signed GraSP share one scoring
pass: GraSP is ``|theta * Hg|``, signed GraSP is ``theta * Hg``), one width for Random and Magnitude
(they never look at the activation or the data), or one activation's **reference**: the criterion's
scores at a width larger than any plotted one, with seeds of their own, to which the Factorised
Saliency Model is fitted (:mod:`graphon.criterion_limit`): that fit is the theoretical graphon.

Setting (the theorem's, as this book reads it: the studied layer pruned alone at exactly rho):
the MLP ``d = 64 -> n -> n -> 10`` (NTK parameterisation, Gaussian weights, :mod:`graphon.models`),
scored on ``n_data`` digits training images with the squared loss on one-hot targets; the
**hidden-to-hidden** weight matrix (``n x n``, torch layout out x in) is pruned alone
(``scope="layer"``, ``layers=[1]``) to exactly ``round(rho n^2)`` entries per seed. Both sides of
that layer grow with ``n`` (the joint growth of the theorem).

Per point and (method, density) the bundle stores, all small:

* ``groups``: ``(G, K, K)`` mean degree-sorted (ascending) block densities over ``G`` disjoint seed
  groups (seed bands over several seed sets); ``first``: ``(D, K, K)`` the pictures of the first
  ``D`` seeds (the CI recomputation compares them);
* per seed: ``density_kept`` (exactly ``rho`` up to rounding), ``threshold`` (the score threshold
  ``tau_n``), ``flatness`` (std of the seed's ``K x K`` picture);
* per distance seed: ``lower``/``upper``, the cut-norm bounds of :func:`graphon.graphons.cut_distance`
  between the seed's full-resolution, degree-aligned mask and the theoretical graphon (evaluated on a
  ``grid x grid`` step approximation; ``1/grid`` is far below the distances measured).

Every point records its parameters, the code fingerprint (:func:`code_fingerprint`, the modules the
numbers depend on), the device, torch's version and thread count, and its wall time. A point whose
files exist with the same parameters and fingerprint is skipped, so an interrupted run resumes where
it stopped; a point is written atomically (temporary file, then rename), so no half point is read.

Sources: Figs 1, 3, 4, 5 settings, ``research/paper.md`` Sec. 7 (reported, not confirmed);
degree-sorted block histograms, Chan & Airoldi (2014) and the predecessor paper (arXiv 2510.17515,
App. C); the theoretical graphon, this book's construction (:mod:`graphon.criterion_limit`).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import data, graphons
from .criterion_limit import constant_limit, fit_factorised, fit_residual
from .device import resolve_device
from .models import MaskedMLP
from .progress import progress
from .pruning import compute_scores, prune
from .selection import count_kept, keep_top, kept_count
from .validation import check_choice, check_density, check_positive_int

__all__ = [
    "PAPER",
    "SMALL",
    "BundleSpec",
    "Bundle",
    "code_fingerprint",
    "compute_point",
    "load_bundle",
    "plan",
    "run_bundle",
    "seed_chunk",
]

HIDDEN = 1  # index of the hidden-to-hidden weight matrix in d -> n -> n -> d_out
DERIVED = ("random", "magnitude")  # criteria whose limit is derived (constant rho)
FITTED = ("snip", "grasp", "grasp_signed")  # criteria whose limit is fitted at the reference width
METHODS = DERIVED + FITTED
_FINGERPRINT_MODULES = (
    "paper_bundle", "criterion_limit", "pruning", "selection", "models", "graphons", "device",
)


@dataclass(frozen=True)
class BundleSpec:
    """The settings of a bundle (the paper's: :data:`PAPER`).

    Attributes:
        widths: hidden widths ``n`` (increasing). seeds: seeds per point (``0..seeds-1``).
        densities: the densities rho. activations: of the data-driven criteria.
        methods: criteria (a subset of :data:`METHODS`). blocks: ``K`` of the pictures.
        groups: disjoint seed groups of the seed bands (``seeds`` divisible by it).
        distance_seeds: seeds whose full-resolution masks enter the cut distances.
        n_data: digits images that score SNIP/GraSP. ref_width: reference width of the fit (larger
        than every width). ref_seeds: seeds of the reference (``ref_seed0, ...``, disjoint from the
        points' seeds). grid: side of the step approximation of the theoretical graphon.
    """

    widths: tuple[int, ...]
    seeds: int
    densities: tuple[float, ...]
    activations: tuple[str, ...]
    methods: tuple[str, ...] = METHODS
    blocks: int = 64
    groups: int = 5
    distance_seeds: int = 4
    n_data: int = 256
    ref_width: int = 8000
    ref_seeds: int = 2
    ref_seed0: int = 100_000
    grid: int = 512

    def __post_init__(self) -> None:
        for n in self.widths:
            check_positive_int(n, "widths", minimum=self.blocks)
        if list(self.widths) != sorted(set(self.widths)):
            raise ValueError(f"widths must be distinct and increasing, got {list(self.widths)}")
        for rho in self.densities:
            check_density(rho)
        for m in self.methods:
            check_choice(m, "methods", METHODS)
        check_positive_int(self.groups, "groups")
        if self.seeds % self.groups or self.distance_seeds > self.seeds:
            raise ValueError(
                f"seeds ({self.seeds}) must be a multiple of groups ({self.groups}) and >= "
                f"distance_seeds ({self.distance_seeds})"
            )
        if self.ref_width <= max(self.widths):
            raise ValueError(f"ref_width must exceed every width (> {max(self.widths)}), got {self.ref_width}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


PAPER = BundleSpec(
    widths=(200, 500, 1000, 2000, 4000), seeds=100, densities=(0.1, 0.2),
    activations=("relu", "tanh", "sigmoid"),
)
"""The paper's Figs 1, 3, 4, 5 settings (widths, 100 seeds, rho 0.1 and 0.2, K = 64, research/paper.md
Sec. 7); n_data, groups, distance seeds, reference width and grid are this book's choices."""

SMALL = BundleSpec(
    widths=(64, 128), seeds=4, densities=(0.2,), activations=("relu",), blocks=8, groups=2,
    distance_seeds=2, n_data=64, ref_width=256, ref_seeds=1, grid=64,
)
"""A tiny bundle for the tests (seconds on a CPU)."""


def _code_only(source: str) -> str:
    """The module's syntax tree without docstrings: edits of prose do not change the numbers."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def code_fingerprint() -> str:
    """SHA-256 (16 hex digits) of the code (docstrings and comments excluded) of the modules the
    bundle's numbers depend on (:data:`_FINGERPRINT_MODULES`)."""
    pkg = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _FINGERPRINT_MODULES:
        h.update(name.encode() + b"\0" + _code_only((pkg / f"{name}.py").read_text()).encode() + b"\0")
    return h.hexdigest()[:16]


def seed_chunk(bytes_per_seed: int, device: torch.device, cap: int | None = None) -> int:
    """Seeds per batched chunk: from free memory on a GPU (half of it), and on a CPU at most the
    number of torch threads (a CPU gains nothing from larger batches, and memory stays within a
    small multiple of one seed's) and half the available memory."""
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
        k = max(1, int(0.5 * free // max(1, bytes_per_seed)))
    else:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):  # pragma: no cover - non-POSIX
            avail = 8 << 30
        k = max(1, min(torch.get_num_threads(), int(0.5 * avail // max(1, bytes_per_seed))))
    return k if cap is None else max(1, min(k, cap))


# ----------------------------------------------------------------------------------------------
# one point
# ----------------------------------------------------------------------------------------------


def _scoring_batch(spec: BundleSpec, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    digits = data.load_digits(seed=0, device=dev)
    x = digits.x_train[: spec.n_data]
    return x, data.one_hot(digits.y_train[: spec.n_data], digits.n_classes)


def _layer_scores(model: MaskedMLP, method: str, x, y) -> torch.Tensor:
    """Scores of the hidden layer, dense network: ``(S, n, n)``."""
    return compute_scores(model, method, x, y)[HIDDEN].detach()


def _picture(mask: torch.Tensor, blocks: int) -> torch.Tensor:
    """Per-seed degree-sorted (ascending) block densities ``(S, K, K)``, CPU float32."""
    return graphons.sorted_block_average(mask, blocks, descending=False).cpu()


@dataclass
class _Acc:
    """Accumulates one (method, density) over seed chunks."""

    pictures: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    thresholds: list = field(default_factory=list)
    lower: list = field(default_factory=list)
    upper: list = field(default_factory=list)


def _variants(kind: str, spec: BundleSpec) -> list[tuple[str, str]]:
    """(method, score source) pairs computed at a point of this kind."""
    if kind == "derived":
        return [(m, m) for m in spec.methods if m in DERIVED]
    return [(m, "grasp_signed" if m.startswith("grasp") else m) for m in spec.methods if m in FITTED]


def compute_point(
    spec: BundleSpec,
    kind: str,
    width: int,
    activation: str = "relu",
    limits: Mapping[tuple[str, float], torch.Tensor] | None = None,
    seeds: Sequence[int] | None = None,
    device: str | torch.device = "auto",
) -> dict[str, np.ndarray]:
    """Compute one point of a bundle: every (method, density) of ``kind`` at ``width``.

    Args:
        spec: the bundle's settings.
        kind: ``"derived"`` (Random, Magnitude) or ``"fitted"`` (SNIP, GraSP, signed GraSP, one
            scoring pass for both GraSP variants).
        width: hidden width ``n``.
        activation: of the network (ignored by Random and Magnitude, whose masks do not depend on it).
        limits: ``{(method, rho): (grid, grid) tensor}`` theoretical graphons for the cut distances
            (needed for ``"fitted"``; the derived ones are the constant rho).
        seeds: the seeds (default ``0..spec.seeds-1``).
        device: where to compute.

    Returns:
        ``{"<method>/<rho>/<field>": array}`` with the fields described in the module docstring.

    Raises:
        ValueError: unknown ``kind``, or a ``"fitted"`` point without its ``limits``.
    """
    kind = check_choice(kind, "kind", ("derived", "fitted"))
    dev = resolve_device(device)
    seeds = list(range(spec.seeds)) if seeds is None else [int(s) for s in seeds]
    variants = _variants(kind, spec)
    if kind == "fitted" and limits is None:
        raise ValueError("limits must be given for a 'fitted' point (fit the reference first)")
    x, y = _scoring_batch(spec, dev) if kind == "fitted" else (None, None)
    acc = {(m, rho): _Acc() for m, _ in variants for rho in spec.densities}
    per_seed = 4 * width * width * (12 if kind == "fitted" else 4)
    chunk = seed_chunk(per_seed, dev)
    total = width * width
    chunks = [seeds[i : i + chunk] for i in range(0, len(seeds), chunk)]
    for part in progress(chunks, desc=f"{kind} {activation} n={width}"):
        act = "relu" if kind == "derived" else activation  # Random/Magnitude masks ignore it
        model = MaskedMLP(64, [width, width], d_out=10, activation=act, seeds=part, device=dev)
        cache: dict[str, torch.Tensor] = {}
        for method, source in variants:
            absolute = method in ("magnitude", "grasp")  # ranked by |.| inside keep_top
            if method == "random":
                scores = None
            elif method == "magnitude":
                scores = model.weights[HIDDEN].detach()
            else:
                if source not in cache:
                    cache[source] = _layer_scores(model, source, x, y)
                scores = cache[source]
            for rho in spec.densities:
                if method == "random":
                    keep = prune(model, "random", rho, layers=[HIDDEN], scope="layer",
                                 apply=False, keep_scores=False).keep[HIDDEN]
                    thr = torch.full((len(part),), float("nan"), dtype=torch.float64)
                else:
                    keep, thr = keep_top(scores.flatten(1), kept_count(rho, total), True,
                                         absolute=absolute)
                    keep, thr = keep.view_as(scores), thr.reshape(-1).double().cpu()
                a = acc[method, rho]
                a.pictures.append(_picture(keep, spec.blocks))
                a.kept.append((count_kept(keep).float() / total).double().cpu())
                a.thresholds.append(thr)
                first = [i for i, s in enumerate(part) if s in seeds[: spec.distance_seeds]]
                if first:
                    ref = (limits or {}).get((method, rho))
                    if ref is None:
                        ref = constant_limit(rho, spec.blocks)
                    cd = graphons.cut_distance(keep[first], ref.to(dev))
                    a.lower.append(cd.lower.reshape(-1))
                    a.upper.append(cd.upper.reshape(-1))
                del keep
        del model, cache
    out: dict[str, np.ndarray] = {}
    g = spec.groups
    for (method, rho), a in acc.items():
        pics = torch.cat(a.pictures)
        key = f"{method}/{rho:g}"
        out[f"{key}/groups"] = pics.reshape(g, -1, *pics.shape[1:]).mean(dim=1).numpy()
        out[f"{key}/first"] = pics[: spec.distance_seeds].numpy()
        out[f"{key}/flatness"] = pics.flatten(1).std(dim=1).double().numpy()
        out[f"{key}/density_kept"] = torch.cat(a.kept).numpy()
        out[f"{key}/threshold"] = torch.cat(a.thresholds).numpy()
        out[f"{key}/lower"] = torch.cat(a.lower).numpy()
        out[f"{key}/upper"] = torch.cat(a.upper).numpy()
    return out


def compute_reference(
    spec: BundleSpec, activation: str, device: str | torch.device = "auto"
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fit the Factorised Saliency Model to each fitted criterion at ``spec.ref_width``.

    Returns ``(arrays, diagnostics)``: arrays ``"<method>/<rho>/limit"`` (``K x K``),
    ``"<method>/<rho>/fine"`` (``grid x grid``), ``"<method>/<rho>/picture"`` (the criterion's own
    seed-averaged picture at the reference width), and the diagnostics of each fit (variance shares,
    split-half KS distances, cut norm of picture minus fitted limit).
    """
    dev = resolve_device(device)
    x, y = _scoring_batch(spec, dev)
    n = spec.ref_width
    seeds = list(range(spec.ref_seed0, spec.ref_seed0 + spec.ref_seeds))
    chunk = seed_chunk(4 * n * n * 14, dev)
    scores: dict[str, list[torch.Tensor]] = {}
    for i in progress(range(0, len(seeds), chunk), desc=f"reference {activation} n={n}"):
        model = MaskedMLP(64, [n, n], d_out=10, activation=activation, seeds=seeds[i : i + chunk],
                          device=dev)
        for source in sorted({s for _, s in _variants("fitted", spec)}):
            scores.setdefault(source, []).append(_layer_scores(model, source, x, y).cpu())
        del model
    arrays: dict[str, np.ndarray] = {}
    diagnostics: dict[str, Any] = {}
    for method, source in _variants("fitted", spec):
        s = torch.cat(scores[source])
        s = s.abs() if method == "grasp" else s
        fit = fit_factorised(s, seed=0)
        diagnostics[method] = dict(fit.diagnostics)
        for rho in spec.densities:
            key = f"{method}/{rho:g}"
            limit = fit.limit_on_grid(rho, spec.blocks)
            keep = keep_top(s.flatten(1), kept_count(rho, n * n)).view_as(s)
            picture = _picture(keep, spec.blocks).mean(dim=0)
            arrays[f"{key}/limit"] = limit.numpy()
            arrays[f"{key}/fine"] = fit.limit_on_grid(rho, spec.grid, quad=2).numpy()
            arrays[f"{key}/picture"] = picture.numpy()
            diagnostics[method][f"residual_rho={rho:g}"] = fit_residual(limit, picture)
            diagnostics[method][f"tau_rho={rho:g}"] = fit.threshold(rho, (spec.blocks * 8,) * 2)
    return arrays, diagnostics


# ----------------------------------------------------------------------------------------------
# the bundle on disk
# ----------------------------------------------------------------------------------------------


def plan(spec: BundleSpec) -> list[dict[str, Any]]:
    """The points of a bundle in run order: references first, then widths increasing."""
    points: list[dict[str, Any]] = []
    fitted = any(m in FITTED for m in spec.methods)
    if fitted:
        points += [{"kind": "reference", "activation": a, "width": spec.ref_width} for a in spec.activations]
    for n in spec.widths:
        if any(m in DERIVED for m in spec.methods):
            points.append({"kind": "derived", "activation": "any", "width": n})
        if fitted:
            points += [{"kind": "fitted", "activation": a, "width": n} for a in spec.activations]
    return points


def _name(p: Mapping[str, Any]) -> str:
    return f"{p['kind']}-{p['activation']}-n{p['width']}"


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def _point_done(folder: Path, p: Mapping[str, Any], spec: BundleSpec, fingerprint: str) -> bool:
    meta_path = folder / f"{_name(p)}.json"
    if not meta_path.is_file() or not (folder / f"{_name(p)}.npz").is_file():
        return False
    meta = json.loads(meta_path.read_text())
    return meta.get("spec") == spec.to_dict() and meta.get("code_fingerprint") == fingerprint


def run_bundle(
    spec: BundleSpec, out_dir: str | Path, device: str | torch.device = "auto", log=print
) -> dict[str, Any]:
    """Compute every point of ``spec`` not already in ``out_dir`` (resumable), then write the index.

    ``out_dir/points/<kind>-<activation>-n<width>.npz`` (arrays) and ``.json`` (provenance:
    parameters, code fingerprint, device, torch version and threads, wall time, date) per point;
    ``out_dir/bundle.json`` lists the points. A point already there with the same spec and code
    fingerprint is skipped; a point from other code or settings is recomputed and replaced only
    once its new files are complete.

    Returns the index written to ``bundle.json``.
    """
    dev = resolve_device(device)
    folder = Path(out_dir) / "points"
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = code_fingerprint()
    limits: dict[str, dict[tuple[str, float], torch.Tensor]] = {}
    for p in plan(spec):
        name = _name(p)
        if p["kind"] == "fitted" and p["activation"] not in limits:
            ref = np.load(folder / f"reference-{p['activation']}-n{spec.ref_width}.npz")
            limits[p["activation"]] = {
                (m, rho): torch.from_numpy(ref[f"{m}/{rho:g}/fine"])
                for m in FITTED if m in spec.methods for rho in spec.densities
            }
        if _point_done(folder, p, spec, fingerprint):
            log(f"skip {name} (done with this code)")
            continue
        t0 = time.perf_counter()
        extra: dict[str, Any] = {}
        if p["kind"] == "reference":
            arrays, extra = compute_reference(spec, p["activation"], dev)
        else:
            arrays = compute_point(spec, p["kind"], p["width"], p["activation"],
                                   limits.get(p["activation"]), device=dev)
        wall = time.perf_counter() - t0
        _atomic_write(folder / f"{name}.npz", lambda t, a=arrays: np.savez_compressed(open(t, "wb"), **a))
        meta = {
            **p, "spec": spec.to_dict(), "code_fingerprint": fingerprint, "device": _device_name(dev),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "wall_s": round(wall, 2),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "diagnostics": extra,
        }
        _atomic_write(folder / f"{name}.json", lambda t, m=meta: t.write_text(json.dumps(m, indent=1)))
        log(f"done {name} in {wall:.1f} s")
    index = {
        "spec": spec.to_dict(), "code_fingerprint": fingerprint,
        "points": [json.loads((folder / f"{_name(p)}.json").read_text()) for p in plan(spec)],
    }
    index["wall_s_total"] = round(sum(p["wall_s"] for p in index["points"]), 1)
    _atomic_write(Path(out_dir) / "bundle.json", lambda t: t.write_text(json.dumps(index, indent=1)))
    return index


@dataclass
class Bundle:
    """A bundle read back (:func:`load_bundle`).

    Attributes:
        spec: its :class:`BundleSpec`; index: the ``bundle.json`` content (provenance per point).
        stale: whether the code that made it differs from today's (:func:`code_fingerprint`).
    """

    spec: BundleSpec
    index: dict[str, Any]
    folder: Path
    stale: bool
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def point(self, kind: str, width: int, activation: str = "any") -> Mapping[str, np.ndarray]:
        name = f"{kind}-{activation}-n{width}"
        if name not in self._cache:
            self._cache[name] = dict(np.load(self.folder / "points" / f"{name}.npz"))
        return self._cache[name]

    def get(self, method: str, rho: float, width: int, activation: str, field_: str) -> np.ndarray:
        """One array of (method, rho, width, activation); Random/Magnitude ignore ``activation``."""
        if method in DERIVED:
            return self.point("derived", width)[f"{method}/{rho:g}/{field_}"]
        return self.point("fitted", width, activation)[f"{method}/{rho:g}/{field_}"]

    def limit(self, method: str, rho: float, activation: str, fine: bool = False) -> np.ndarray:
        """The theoretical graphon on the ``K x K`` grid (or the fine grid)."""
        if method in DERIVED:
            side = self.spec.grid if fine else self.spec.blocks
            return constant_limit(rho, side).numpy()
        ref = self.point("reference", self.spec.ref_width, activation)
        return ref[f"{method}/{rho:g}/{'fine' if fine else 'limit'}"]

    def meta(self, kind: str, width: int, activation: str = "any") -> dict[str, Any]:
        name = f"{kind}-{activation}-n{width}"
        return json.loads((self.folder / "points" / f"{name}.json").read_text())


def load_bundle(folder: str | Path) -> Bundle:
    """Read ``folder/bundle.json`` and its points.

    Raises:
        ValueError: no ``bundle.json`` there (run ``python -m graphon.paper_bundle`` first).
    """
    folder = Path(folder)
    path = folder / "bundle.json"
    if not path.is_file():
        raise ValueError(f"folder must hold a bundle (bundle.json), got {str(folder)!r}; "
                         "make it with `python -m graphon.paper_bundle`")
    index = json.loads(path.read_text())
    s = dict(index["spec"])
    spec = BundleSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in s.items()})
    return Bundle(spec=spec, index=index, folder=folder, stale=index["code_fingerprint"] != code_fingerprint())


def main(argv: list[str] | None = None) -> int:
    """``python -m graphon.paper_bundle [--out results/paper] [--spec paper|small] [--device ...]``."""
    ap = argparse.ArgumentParser(prog="python -m graphon.paper_bundle", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/paper", help="bundle folder (default results/paper)")
    ap.add_argument("--spec", choices=("paper", "small"), default="paper")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = ap.parse_args(argv)
    spec = PAPER if args.spec == "paper" else SMALL
    index = run_bundle(spec, args.out, args.device, log=lambda m: print(m, flush=True))
    print(f"bundle complete: {len(index['points'])} points, {index['wall_s_total']} s of compute")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
