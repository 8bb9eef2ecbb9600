"""A chapter's declaration file, ``book/rules/<chapter>.yaml``: what the parameters cell cannot say.

The parameters cell gives each parameter a type and a range on its own (:mod:`graphon.runs.params`).
Rules that tie two parameters together, rules on the length of a list, and the model of what a run
costs (memory and wall time) are declared beside it, in one YAML file per chapter, read by the runner
before the kernel starts::

    rules:                               # each must hold; 'parameter' is the one the message names
      - check: blocks <= min(widths)
        parameter: blocks
        why: every block of the step graphon needs at least one neuron
    lists:                               # list-length rules
      widths: {min_distinct: 2, why: a log-log slope against n is fitted}
    memory:                              # peak memory of a run, bytes (an expression)
      bytes: 4.0e8 + 40 * seed_batch * max(widths)**2
      lower: [seed_batch, widths]        # which parameters to lower when it does not fit
      source: where the coefficients come from
    cost:                                # wall time: t = fixed_s + scale_s * (n/n_ref)^a * (seeds/seeds_ref)^b * prod(linear/ref)
      n: max(widths)                     # the size the exponent a applies to (an expression)
      seeds: seeds
      exponent_n: 1.8                    # measured (scripts/measure_run_cost.py), with its source
      exponent_seeds: 1.0
      ...

Expressions are Python arithmetic over the chapter's parameter names with ``min``, ``max``,
``len``, ``sum``, ``abs`` and ``set``; any other name is refused when the file is read
(:class:`RulesError`), so a parameter renamed in the chapter but not here is caught by the tests.
"""

from __future__ import annotations

import ast
import math
import operator
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .params import ParameterError

__all__ = [
    "ChapterRules",
    "CostEstimate",
    "RulesError",
    "check_rules",
    "cost_table",
    "estimate",
    "free_memory_bytes",
    "gib",
    "human_seconds",
    "load_rules",
    "rules_path",
]

RULES_DIR = "rules"
_FUNCS = {"min": min, "max": max, "len": len, "sum": sum, "abs": abs, "set": set}
_BIN = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_CMP = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


class RulesError(ValueError):
    """A declaration file that cannot be read: bad YAML, an unknown key, an unknown parameter name."""


@dataclass(frozen=True)
class Expr:
    """A parsed expression over parameter names (see the module docstring for what is allowed)."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    @classmethod
    def parse(cls, text: Any, where: str) -> Expr:
        text = str(text)
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise RulesError(f"{where}: cannot read the expression {text!r} ({exc.msg})") from None
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS) or node.keywords:
                    raise RulesError(f"{where}: only {', '.join(_FUNCS)} may be called in {text!r}")
            elif isinstance(node, ast.Name):
                if node.id not in _FUNCS:
                    names.add(node.id)
            elif not isinstance(
                node,
                (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Constant,
                 ast.Load, ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or, *_BIN, *_CMP),
            ):
                raise RulesError(f"{where}: {type(node).__name__} is not allowed in {text!r}")
        return cls(text, tree, frozenset(names))

    def __call__(self, values: Mapping[str, Any]) -> Any:
        return _eval(self.tree.body, values)


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return _BIN[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env)
        return -v if isinstance(node.op, ast.USub) else (+v if isinstance(node.op, ast.UAdd) else not v)
    if isinstance(node, ast.BoolOp):
        vals = (_eval(v, env) for v in node.values)
        return all(vals) if isinstance(node.op, ast.And) else any(vals)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, env)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        return _FUNCS[node.func.id](*(_eval(a, env) for a in node.args))  # type: ignore[attr-defined]
    raise RulesError(f"cannot evaluate {ast.dump(node)}")  # pragma: no cover - refused at parse


@dataclass(frozen=True)
class Rule:
    check: Expr
    parameter: str
    why: str


@dataclass(frozen=True)
class ListRule:
    parameter: str
    min_distinct: int
    why: str


@dataclass(frozen=True)
class ChapterRules:
    """A chapter's declarations (all optional): cross-parameter rules, list rules, memory and cost."""

    chapter: str
    path: Path | None = None
    rules: tuple[Rule, ...] = ()
    lists: tuple[ListRule, ...] = ()
    memory: Expr | None = None
    memory_lower: tuple[str, ...] = ()
    memory_source: str = ""
    cost: Mapping[str, Any] = field(default_factory=dict)
    cost_n: Expr | None = None
    cost_seeds: Expr | None = None
    cost_linear: tuple[Expr, ...] = ()
    gpu_speedup: float | None = None
    gpu_source: str = ""


_TOP = {"chapter", "rules", "lists", "memory", "cost", "gpu"}
_COST_KEYS = {
    "n", "seeds", "linear", "exponent_n", "exponent_seeds", "fixed_s", "scale_s", "ref", "source",
    "measured", "fit", "basis",
}


def rules_path(chapter: str, book_dir: str | Path) -> Path:
    return Path(book_dir) / RULES_DIR / f"{chapter}.yaml"


def load_rules(chapter: str, book_dir: str | Path, parameters: Sequence[str]) -> ChapterRules:
    """Read ``<book_dir>/rules/<chapter>.yaml`` (no file: no rules, no estimates).

    Args:
        parameters: the chapter's parameter names; an expression using any other name is refused.

    Raises:
        RulesError: the file is not valid YAML, has an unknown key, or names an unknown parameter.
    """
    path = rules_path(chapter, book_dir)
    if not path.is_file():
        return ChapterRules(chapter)
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RulesError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RulesError(f"{where}: must be a mapping")
    unknown = set(data) - _TOP
    if unknown:
        raise RulesError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_TOP)}")
    known = set(parameters)

    def expr(text: Any, what: str) -> Expr:
        e = Expr.parse(text, f"{where}: {what}")
        bad = sorted(e.names - known)
        if bad:
            raise RulesError(
                f"{where}: {what} uses {', '.join(map(repr, bad))}, which the chapter {chapter!r} "
                f"does not have (parameters: {', '.join(parameters)})"
            )
        return e

    def param(name: Any, what: str) -> str:
        if name not in known:
            raise RulesError(f"{where}: {what} names {name!r}, not a parameter of {chapter!r}")
        return str(name)

    rules = []
    for i, item in enumerate(data.get("rules") or []):
        if not isinstance(item, dict) or "check" not in item or "parameter" not in item:
            raise RulesError(f"{where}: rules[{i}] needs 'check' and 'parameter'")
        rules.append(
            Rule(expr(item["check"], f"rules[{i}]"), param(item["parameter"], f"rules[{i}]"),
                 str(item.get("why", "")))
        )
    lists = []
    for name, item in (data.get("lists") or {}).items():
        item = item or {}
        lists.append(ListRule(param(name, "lists"), int(item.get("min_distinct", 1)), str(item.get("why", ""))))
    mem = data.get("memory") or {}
    cost = data.get("cost") or {}
    bad_cost = set(cost) - _COST_KEYS
    if bad_cost:
        raise RulesError(f"{where}: unknown cost keys {sorted(bad_cost)}; allowed: {sorted(_COST_KEYS)}")
    gpu = data.get("gpu") or {}
    return ChapterRules(
        chapter=chapter,
        path=path,
        rules=tuple(rules),
        lists=tuple(lists),
        memory=expr(mem["bytes"], "memory.bytes") if "bytes" in mem else None,
        memory_lower=tuple(param(n, "memory.lower") for n in mem.get("lower", [])),
        memory_source=str(mem.get("source", "")),
        cost=cost,
        cost_n=expr(cost["n"], "cost.n") if "n" in cost else None,
        cost_seeds=expr(cost["seeds"], "cost.seeds") if "seeds" in cost else None,
        cost_linear=tuple(expr(t, "cost.linear") for t in cost.get("linear", [])),
        gpu_speedup=float(gpu["speedup"]) if "speedup" in gpu else None,
        gpu_source=str(gpu.get("source", "")),
    )


def _show(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return repr(v) if isinstance(v, str) else f"{v:g}" if isinstance(v, float) else str(v)


def check_rules(rules: ChapterRules, values: Mapping[str, Any]) -> None:
    """Check the declared rules on a full parameter set.

    Raises:
        ParameterError: one line naming the parameter, its value, the rule and why it exists.
    """
    for lr in rules.lists:
        v = values.get(lr.parameter)
        if isinstance(v, list) and len(set(v)) < lr.min_distinct:
            raise ParameterError(
                f"parameter {lr.parameter!r} = {_show(v)} needs at least {lr.min_distinct} distinct "
                f"values" + (f" ({lr.why})" if lr.why else "")
            )
    for r in rules.rules:
        if r.check(values):
            continue
        others = sorted(r.check.names - {r.parameter})
        with_ = ", ".join(f"{n} = {_show(values[n])}" for n in others)
        raise ParameterError(
            f"parameter {r.parameter!r} = {_show(values[r.parameter])} breaks the rule "
            f"'{r.check.text}'" + (f" with {with_}" if with_ else "") + (f" ({r.why})" if r.why else "")
        )


@dataclass(frozen=True)
class CostEstimate:
    """Predicted cost of one run (``None`` where the chapter declares no model)."""

    memory_bytes: float | None
    seconds_cpu: float | None
    seconds_gpu: float | None
    n: float | None = None
    seeds: float | None = None


def estimate(rules: ChapterRules, values: Mapping[str, Any]) -> CostEstimate:
    """Evaluate the memory and wall-time models on ``values``.

    Wall time on this CPU: ``fixed_s + scale_s * (n / ref.n)^exponent_n * (seeds / ref.seeds)^exponent_seeds
    * prod(linear / ref.linear)`` with the measured exponents of the declaration file; on one GPU:
    ``fixed_s + (the variable part) / gpu.speedup``, the speed-up estimated from the ratio of the
    GPU's to this CPU's FLOP rate and memory bandwidth (declared with its source).
    """
    mem = float(rules.memory(values)) if rules.memory is not None else None
    c = rules.cost
    if rules.cost_n is None or "exponent_n" not in c or "scale_s" not in c:
        return CostEstimate(mem, None, None)
    ref = c.get("ref") or {}
    n = float(rules.cost_n(values))
    s = float(rules.cost_seeds(values)) if rules.cost_seeds is not None else 1.0
    var = float(c["scale_s"]) * (n / float(ref.get("n", 1))) ** float(c["exponent_n"])
    var *= (s / float(ref.get("seeds", 1))) ** float(c.get("exponent_seeds", 1.0))
    for e, r in zip(rules.cost_linear, ref.get("linear", [1] * len(rules.cost_linear)), strict=False):
        var *= float(e(values)) / float(r)
    fixed = float(c.get("fixed_s", 0.0))
    gpu = None if not rules.gpu_speedup else fixed + var / rules.gpu_speedup
    return CostEstimate(mem, fixed + var, gpu, n, s)


def free_memory_bytes(device: str = "cpu") -> float | None:
    """Memory a new run can use now: ``MemAvailable`` of ``/proc/meminfo`` (CPU) or the free memory
    of the current CUDA device; ``None`` when it cannot be read."""
    if device.startswith("cuda"):
        try:
            import torch

            return float(torch.cuda.mem_get_info()[0])
        except Exception:  # pragma: no cover - no usable GPU: the device check refuses first
            return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def gib(x: float) -> str:
    return f"{x / 2**30:.1f} GiB" if x >= 2**28 else f"{x / 2**20:.0f} MiB"


def human_seconds(t: float) -> str:
    if not math.isfinite(t):
        return "unknown"
    if t < 90:
        return f"{t:.0f} s"
    if t < 5400:
        return f"{t / 60:.0f} min"
    if t < 2 * 86400:
        return f"{t / 3600:.1f} h"
    return f"{t / 86400:.1f} days"



def cost_table(book_dir: str | Path, preset: str = "paper") -> str:
    """The Markdown table of ``book/rerun.md``: for each chapter with a ``preset``, the measured
    exponents and what ``run CHAPTER --preset PRESET --dry-run`` predicts (memory, wall time on
    this CPU and on one GPU)."""
    from .runner import discover_chapters, list_presets, resolve_parameters

    rows = [
        "| chapter | n | seeds | time ~ n^a S^b: a, b | fixed part | this CPU | one GPU (estimate) | peak memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for chapter in discover_chapters(book_dir):
        if preset not in list_presets(chapter, book_dir):
            continue
        _, specs, values = resolve_parameters(chapter, None, preset, "cpu", book_dir)
        rules = load_rules(chapter, book_dir, [s.name for s in specs])
        est = estimate(rules, values)
        if est.seconds_cpu is None:
            continue
        c = rules.cost
        rows.append(
            f"| {chapter} | {c['n']} = {est.n:g} | {est.seeds:g} | "
            f"{float(c['exponent_n']):.2f}, {float(c.get('exponent_seeds', 1)):.2f} "
            f"({c.get('basis', 'measured')}) | "
            f"{human_seconds(float(c.get('fixed_s', 0)))} | {human_seconds(est.seconds_cpu)} | "
            f"{human_seconds(est.seconds_gpu) if est.seconds_gpu is not None else '-'} | "
            f"{gib(est.memory_bytes) if est.memory_bytes is not None else '-'} |"
        )
    return "\n".join(rows)
