"""Training masked networks with their masks fixed: the Adam loop shared by the chapters.

One job: train a batch of one-hidden-layer :class:`~graphon.models.MaskedMLP` networks (one per
seed, stacked on the leading seed axis) on the squared loss while the pruning masks stay fixed, and
report per-seed errors. The expressivity chapter trains pruned networks on k-active-coordinate
tasks (:func:`graphon.expressivity.fit_pruned_network`); the generalisation chapter trains
networks on per-seed labels (:func:`train_per_seed_targets`, a thin wrapper).

Sources: Adam (Kingma & Ba 2015) on the squared loss, the predecessor's training protocol
(``research/prior_and_code.md`` Sec. A.5); the network is that of :mod:`graphon.models` (NTK
parameterisation, no biases), to which :func:`fit_masked_network` adds, by default, a never-pruned
bias column (a constant-1 input), so that the trained network is
``f(x) = sum_i a_i sigma((sum_j M_ij w_ij x_j + b_i) / sqrt(d + 1)) / sqrt(n)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .device import resolve_device, seeded_normal
from .models import MaskedMLP
from .progress import progress
from .threads import one_thread_for_small_cpu as _one_thread_for_small_cpu
from .validation import check_in_range, check_positive_int

__all__ = ["FitResult", "TrainResult", "add_bias_column", "fit_masked_network", "train_per_seed_targets"]


def _check_masks(masks) -> torch.Tensor:
    """Masks as ``(S, n, d)`` (a single ``(n, d)`` mask gives ``S = 1``); ValueError otherwise."""
    m = torch.as_tensor(masks)
    if m.dim() == 2:
        m = m.unsqueeze(0)
    if m.dim() != 3:
        raise ValueError(f"masks must have shape (S, n, d) (seed, hidden, input), got {tuple(m.shape)}")
    return m



@dataclass
class FitResult:
    """Result of :func:`fit_masked_network` (all tensors on the CPU, one entry per seed).

    Attributes:
        train_mse: ``(S,)`` final mean squared error on the training set.
        test_mse: ``(S,)`` mean squared error on the test set.
        relative_test_error: ``(S,)`` ``test_mse / Var(y_test)`` (1 = no better than a constant).
        history: ``{"epoch": [...], "train_mse": (E, S), "test_mse": (E, S)}`` at the logged epochs.
        model: the trained :class:`~graphon.models.MaskedMLP` (with the bias column when used).
        train_variance: ``Var(y_train)`` (population variance, averaged over outputs): a float for
            shared targets, ``(S,)`` for per-seed targets.
    """

    train_mse: torch.Tensor
    test_mse: torch.Tensor
    relative_test_error: torch.Tensor
    history: dict
    model: MaskedMLP
    train_variance: float | torch.Tensor = float("nan")

    @property
    def relative_train_error(self) -> torch.Tensor:
        """``(S,)`` ``train_mse / Var(y_train)`` (1 = no better than a constant; NaN if Var = 0)."""
        var = torch.as_tensor(self.train_variance, dtype=self.train_mse.dtype)
        return torch.where(var > 0, self.train_mse / var, torch.full_like(self.train_mse, float("nan")))

    @property
    def relative_train_error_mean(self) -> float:
        """Seed average of the relative train error (``train_mse_mean / Var(y_train)`` for shared
        targets)."""
        if isinstance(self.train_variance, float):
            var = self.train_variance
            return self.train_mse_mean / var if var > 0 else float("nan")
        return float(self.relative_train_error.mean())

    @property
    def train_mse_mean(self) -> float:
        """Seed average of ``train_mse``."""
        return float(self.train_mse.mean())

    @property
    def test_mse_mean(self) -> float:
        """Seed average of ``test_mse``."""
        return float(self.test_mse.mean())

    @property
    def relative_test_error_mean(self) -> float:
        """Seed average of ``relative_test_error``."""
        return float(self.relative_test_error.mean())

    def select(self, index) -> FitResult:
        """The result restricted to some seeds: ``index`` is a slice or indices into the seed axis.

        Used when several experiments are trained as one stacked batch (e.g. the masks of several
        pruning criteria on the seed axis): each gets back exactly its own per-seed numbers. The
        ``model`` is shared (the whole trained batch).
        """
        var = self.train_variance
        if isinstance(var, torch.Tensor):
            var = var[index]
        hist = dict(self.history)
        hist["train_mse"] = self.history["train_mse"][:, index]
        hist["test_mse"] = self.history["test_mse"][:, index]
        return FitResult(train_mse=self.train_mse[index], test_mse=self.test_mse[index],
                         relative_test_error=self.relative_test_error[index], history=hist,
                         model=self.model, train_variance=var)


def add_bias_column(x: torch.Tensor) -> torch.Tensor:
    """Append a constant-1 input coordinate: ``(..., d) -> (..., d + 1)`` (a bias, as a weight)."""
    return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)


def _with_bias(model: MaskedMLP, bias_seed: int) -> MaskedMLP:
    """A copy of a one-hidden-layer ``model`` with one more, never-pruned, input (the bias).

    The data weights and masks are copied (so a net pruned at initialisation trains from its own
    initial weights); the bias column of seed ``s`` draws N(0, 1) weights from ``bias_seed + s``
    (the same for every copy of a repeated seed) and its mask is 1.
    """
    w0, w1 = model.weights[0].detach(), model.weights[1].detach()
    S, n, d = w0.shape
    dev = w0.device
    # the weights are overwritten below; the seed list may repeat a seed (copies of one network
    # stacked on the seed axis, e.g. several criteria's masks on the same initial weights)
    new = MaskedMLP(d + 1, [n], d_out=model.d_out, activation=model.activation,
                    seeds=S, device=dev, dtype=w0.dtype)
    new.seeds = list(model.seeds)
    uniq = sorted(set(model.seeds))
    bias_u = seeded_normal([bias_seed + s for s in uniq], (n, 1), dev, w0.dtype)
    bias_w = bias_u[[uniq.index(s) for s in model.seeds]]
    with torch.no_grad():
        new.weights[0].copy_(torch.cat([w0, bias_w], dim=-1))
        new.weights[1].copy_(w1)
    m0, m1 = model.masks
    new.set_masks([torch.cat([m0, torch.ones_like(m0[..., :1])], dim=-1), m1])
    return new


def _targets(y: torch.Tensor, d_out: int, n: int | None = None, n_seeds: int | None = None) -> torch.Tensor:
    """Targets as ``(N, d_out)`` (shared by every seed) or ``(S, N, d_out)`` (one per seed).

    Per-seed targets are recognised (when ``n`` and ``n_seeds`` are given) as a 3-D ``(S, N, d_out)``
    tensor or, for ``d_out = 1``, a 2-D ``(S, N)`` one that is not ``(N, 1)``.
    """
    y = torch.as_tensor(y)
    if y.dim() == 1:
        y = y.unsqueeze(-1)
    if n is not None and n_seeds is not None:
        if y.dim() == 2 and d_out == 1 and tuple(y.shape) == (n_seeds, n) and tuple(y.shape) != (n, 1):
            y = y.unsqueeze(-1)
        if y.dim() == 3:
            if tuple(y.shape) != (n_seeds, n, d_out):
                raise ValueError(f"per-seed targets must have shape (S={n_seeds}, N={n}) or "
                                 f"(S, N, d_out={d_out}), got {tuple(y.shape)}")
            return y
    if y.dim() != 2 or y.shape[-1] != d_out:
        want = f"(N,) or (N, d_out={d_out})"
        if n_seeds is not None:
            want += f" or per seed (S={n_seeds}, N)"
        raise ValueError(f"targets must have shape {want}, got {tuple(y.shape)}")
    return y


def _stream_batch(
    stream, m: int, seed: int, bias: bool, d_out: int, dev, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """One fresh mini-batch ``(x, y)`` from ``stream``, on ``dev``, with the bias column when used."""
    xb, yb = stream(m, seed)
    xb = torch.as_tensor(xb).to(dev, dtype)
    yb = _targets(yb, d_out).to(dev, dtype)
    if xb.dim() != 2 or xb.shape[0] != m or yb.shape[0] != m:
        raise ValueError(
            f"stream(m, seed) must return x (m, d) and y (m,), got {tuple(xb.shape)}, {tuple(yb.shape)}"
        )
    return (add_bias_column(xb) if bias else xb), yb


def _adam(params, lr: float) -> torch.optim.Adam:
    """Adam with torch's fused kernel (one pass over each parameter per step instead of about ten).

    The fused and the per-tensor implementations apply the same update (Kingma & Ba 2015, as in
    ``torch.optim.Adam``); they differ only by float rounding. The fused kernel runs on the CPU and
    on CUDA for floating parameters; elsewhere the per-tensor loop is used.
    """
    tensors = [t for g in params for t in (g["params"] if isinstance(g, dict) else [g])]
    fused = all(t.is_floating_point() and t.device.type in ("cpu", "cuda") for t in tensors)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def fit_masked_network(
    network,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    epochs: int = 300,
    lr: float = 1e-2,
    batch_size: int | None = None,
    seed: int = 0,
    activation: str = "relu",
    bias: bool = True,
    log_every: int = 10,
    device: str | torch.device | None = "auto",
    desc: str | None = "fit",
    stream: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]] | None = None,
    input_lr: float | None = None,
) -> FitResult:
    """Train one-hidden-layer masked networks with **fixed** masks (all seeds at once), squared loss.

    The masks are buffers of :class:`~graphon.models.MaskedMLP`, so pruned weights stay out of the
    function during training. Weights have shape ``(S, out, in)``; the loss is the *sum over seeds* of
    each seed's mean squared error, so every seed trains exactly as if alone (Adam is elementwise).
    Inputs and targets are cast to the model's floating dtype (float32 for the tuple form).

    Args:
        network: either a one-hidden-layer :class:`~graphon.models.MaskedMLP` (e.g. pruned at
            initialisation by :func:`graphon.pruning.prune`; its weights are trained in place unless
            ``bias`` adds a column, which trains a copy), or a tuple ``(d, width, masks)`` with first
            layer masks ``(S, width, d)`` (the readout stays dense); then weights are drawn with
            seeds ``seed, ..., seed + S - 1``.
        x_train, y_train: inputs ``(N, d)``, targets ``(N,)`` or ``(N, d_out)`` shared by every seed,
            or **one target per seed**: ``(S, N)`` (``d_out = 1``) or ``(S, N, d_out)`` (e.g. the
            label-noise experiment, where each stacked network sees its own corrupted labels).
        x_test, y_test: the same for the test set (per-seed ``y_test`` gives each seed its own
            ``Var(y_test)`` in ``relative_test_error``).
        epochs: passes over the training set (>= 1).
        lr: Adam learning rate (> 0).
        batch_size: ``None`` for full batch, else the mini-batch size (shuffled with ``seed``).
        seed: seed of new weights (tuple form) and of the mini-batch order.
        activation: for the tuple form, one of :data:`graphon.models.ACTIVATIONS`.
        bias: append a constant-1 input coordinate that is **never pruned** (the network of
            :mod:`graphon.models` has no biases; without one a ReLU net is positively homogeneous and
            cannot be a universal approximator). Its mask column is all ones, so the dense core over
            the data coordinates is unchanged.
        log_every: record train/test MSE every this many epochs (and at the last).
        device: where to train.
        desc: progress-bar label.
        stream: ``None`` (the default): train on the fixed sample ``x_train, y_train``. Otherwise
            a function ``stream(m, seed) -> (x (m, d), y (m,))`` drawing ``m`` **fresh** samples of
            the task, deterministically from ``seed`` (e.g. a :class:`KSparseStream`): every
            mini-batch is then a new draw (the online, infinite-data regime: no sample is seen
            twice, so there is nothing to overfit and the error measured is that of approximation
            and optimisation). An epoch keeps the same number of steps,
            ``ceil(len(x_train) / batch_size)``, and ``batch_size`` is required; ``x_train,
            y_train`` are then only an evaluation sample (independent of the training draws when
            the stream's seeds differ from the sample's). Batch ``t`` (from 0) of the run uses
            stream seed ``1_000_003 * (seed + 1) + t``.
        input_lr: ``None`` (the default): Adam uses ``lr`` for every weight. Otherwise the first
            layer's Adam learning rate is ``input_lr * sqrt(fan_in)`` (``fan_in = d``, plus 1 with
            ``bias``), the readout keeps ``lr``. The network divides the pre-activation by
            ``sqrt(fan_in)`` whatever the mask, and Adam's step is about its learning rate per
            weight, so with ``lr`` each term ``w_ij x_j / sqrt(fan_in)`` moves ``sqrt(fan_in)`` times
            more slowly at large ``d``; with ``input_lr`` it moves about ``input_lr`` per step at every
            ``d`` (Adam in the standard parametrisation). Must be > 0. This book's choice, not the
            paper's.

    Returns:
        A :class:`FitResult` with per-seed errors ``(S,)`` on the CPU.

    Raises:
        ValueError: for ``epochs`` < 1, ``lr`` <= 0, a bad ``batch_size``, shapes that do not match,
            a network that is not one-hidden-layer, or a bad device.
    """
    dev = resolve_device(device)
    epochs = check_positive_int(epochs, "epochs")
    lr = check_in_range(lr, "lr", 0.0, math.inf, low_open=True)
    log_every = check_positive_int(log_every, "log_every")
    x_train = torch.as_tensor(x_train).to(dev)
    x_test = torch.as_tensor(x_test).to(dev)
    if x_train.dim() != 2 or x_test.dim() != 2 or x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"x_train and x_test must be (N, d) with the same d, got {tuple(x_train.shape)} and "
            f"{tuple(x_test.shape)}"
        )
    d = x_train.shape[1]
    if isinstance(network, MaskedMLP):
        model = network.to(dev)
        if model.n_layers != 2:
            raise ValueError(f"network must have one hidden layer, got {model.n_layers - 1}")
        if model.d != d:
            raise ValueError(f"network input dimension {model.d} does not match x_train's d = {d}")
    else:
        try:
            d_net, width, masks = network
        except (TypeError, ValueError):
            raise ValueError("network must be a MaskedMLP or a tuple (d, width, masks)") from None
        d_net = check_positive_int(d_net, "d")
        width = check_positive_int(width, "width")
        masks = _check_masks(masks).to(dev, torch.float32)
        if d_net != d or tuple(masks.shape[1:]) != (width, d):
            raise ValueError(
                f"masks must have shape (S, width={width}, d={d}) and d must match x_train, got "
                f"masks {tuple(masks.shape)} and d = {d_net}"
            )
        S = masks.shape[0]
        model = MaskedMLP(d, [width], activation=activation, seeds=[seed + s for s in range(S)], device=dev)
        model.set_masks([masks, None])
    dtype = model.weights[0].dtype  # train in the model's own floating dtype
    x_train, x_test = x_train.to(dtype), x_test.to(dtype)
    if bias:
        model = _with_bias(model, bias_seed=7_000_003 + seed)
        x_train, x_test = add_bias_column(x_train), add_bias_column(x_test)
    yt = _targets(y_train, model.d_out, x_train.shape[0], model.n_seeds).to(dev, dtype)
    ye = _targets(y_test, model.d_out, x_test.shape[0], model.n_seeds).to(dev, dtype)
    if yt.shape[-2] != x_train.shape[0] or ye.shape[-2] != x_test.shape[0]:
        raise ValueError("x and y must have the same number of samples")
    N = x_train.shape[0]
    if stream is not None and batch_size is None:
        raise ValueError("batch_size must be an integer >= 1 when stream is given (fresh batches)")
    if batch_size is not None:
        batch_size = min(check_positive_int(batch_size, "batch_size"), N)
    steps_per_epoch = 1 if batch_size is None else math.ceil(N / batch_size)

    def mse(x, y):  # per seed, (S,)
        return (model(x) - y).pow(2).mean(dim=(-2, -1))

    if input_lr is None:
        opt = _adam(list(model.parameters()), lr)
    else:
        input_lr = check_in_range(input_lr, "input_lr", 0.0, math.inf, low_open=True)
        w_in, *rest = list(model.parameters())
        opt = _adam([{"params": [w_in], "lr": input_lr * math.sqrt(w_in.shape[-1])},
                     {"params": rest, "lr": lr}], lr)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    hist_epoch, hist_train, hist_test = [], [], []
    step = 0
    for epoch in progress(range(1, epochs + 1), desc=desc):
        if stream is not None:
            batches = [None] * steps_per_epoch
        elif batch_size is None:
            batches = [None]
        else:
            perm = torch.randperm(N, generator=gen).to(dev)
            batches = [perm[i:i + batch_size] for i in range(0, N, batch_size)]
        for b in batches:
            if stream is not None:
                xb, yb = _stream_batch(stream, batch_size, 1_000_003 * (int(seed) + 1) + step, bias,
                                       model.d_out, dev, dtype)
            else:
                xb, yb = (x_train, yt) if b is None else (x_train[b], yt[..., b, :])
            step += 1
            opt.zero_grad(set_to_none=True)
            loss = mse(xb, yb).sum()
            loss.backward()
            opt.step()
        if epoch % log_every == 0 or epoch == epochs:
            with torch.no_grad():
                hist_epoch.append(epoch)
                hist_train.append(mse(x_train, yt).cpu())
                hist_test.append(mse(x_test, ye).cpu())
    train_mse, test_mse = hist_train[-1], hist_test[-1]
    if ye.dim() == 2:  # shared targets
        var = float(ye.var(dim=0, unbiased=False).mean().cpu())
        rel = test_mse / var if var > 0 else torch.full_like(test_mse, float("nan"))
    else:  # per-seed targets: each seed's own Var(y_test)
        var_s = ye.var(dim=-2, unbiased=False).mean(dim=-1).cpu()
        rel = torch.where(var_s > 0, test_mse / var_s, torch.full_like(test_mse, float("nan")))
    if yt.dim() == 2:
        var_train = float(yt.var(dim=0, unbiased=False).mean().cpu())
    else:
        var_train = yt.var(dim=-2, unbiased=False).mean(dim=-1).cpu()
    history = {"epoch": hist_epoch, "train_mse": torch.stack(hist_train), "test_mse": torch.stack(hist_test)}
    return FitResult(train_mse=train_mse, test_mse=test_mse, relative_test_error=rel,
                     history=history, model=model, train_variance=var_train)


@dataclass
class TrainResult:
    """Outcome of :func:`train_per_seed_targets` (CPU tensors).

    Attributes:
        train_mse: ``(S,)`` final training mean squared error per seed.
        outputs: ``(S, N_eval)`` outputs on ``x_eval`` after training (``None`` without ``x_eval``).
        initial_outputs: ``(S, N_eval)`` outputs on ``x_eval`` at initialisation.
    """

    train_mse: torch.Tensor
    outputs: torch.Tensor | None
    initial_outputs: torch.Tensor | None


def train_per_seed_targets(
    model,
    x: torch.Tensor,
    targets: torch.Tensor,
    epochs: int = 300,
    lr: float = 1e-3,
    x_eval: torch.Tensor | None = None,
) -> TrainResult:
    """Full-batch Adam on the squared loss with **one target vector per seed**, masks fixed.

    A thin wrapper of :func:`fit_masked_network` (per-seed targets, no bias
    column, full batch, in the model's dtype) that also returns the outputs on ``x_eval`` before and
    after training, and runs small CPU networks on one thread (faster and deterministic). The loss
    is the sum over seeds of each seed's mean squared error, so every seed trains as if alone (Adam
    is elementwise). Training follows the predecessor's protocol (Adam; ``research/
    prior_and_code.md`` Sec. A.5); the theory's lazy regime is gradient flow at large width.

    Args:
        model: a :class:`graphon.models.MaskedMLP` with one hidden layer, ``d_out = 1`` and ``S``
            seeds (trained in place).
        x: inputs ``(N, d)``; targets: ``(S, N)`` (or ``(N,)``, shared).
        epochs: full-batch Adam steps (>= 1); lr: learning rate (> 0).
        x_eval: optional inputs ``(N_eval, d)`` whose outputs are returned.

    Raises:
        ValueError: shapes that do not match, ``d_out != 1``, ``epochs < 1``, ``lr <= 0``.
    """
    if model.d_out != 1:
        raise ValueError(f"need a model with d_out = 1 (one target per seed), got {model.d_out}")
    w = model.weights[0]
    xe = None if x_eval is None else torch.as_tensor(x_eval).to(device=w.device, dtype=w.dtype)
    with torch.no_grad():
        init = None if xe is None else model(xe)[..., 0].cpu()
    n_weights = sum(p.numel() for p in model.parameters())
    with _one_thread_for_small_cpu(w, limit=2**22, numel=n_weights):  # small CPU nets: 1 thread
        fit = fit_masked_network(
            model, x, targets, x, targets, epochs=epochs, lr=lr, bias=False, log_every=epochs,
            device=w.device, desc="train",
        )
    with torch.no_grad():
        out = None if xe is None else model(xe)[..., 0].cpu()
    return TrainResult(train_mse=fit.train_mse, outputs=out, initial_outputs=init)
