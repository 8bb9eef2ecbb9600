"""Reference numbers: a chapter's headline metrics, committed with a tolerance and a reason each.

A book build writes ``_build/outputs/<chapter>/metrics.json`` (:func:`graphon.outputs.write_metrics`).
``tests/reference/<chapter>.yaml`` holds the numbers the chapter's prose relies on, as measured by a
default build, grouped by the reason for their tolerance::

    chapter: convergence
    groups:
      - name: slopes
        keys: ["slopes/*"]              # "/" separates levels; * = one level, ** = any levels
        abs: 0.03                       # allowed |now - reference| (and/or rel: relative to |reference|)
        reason: "seed noise: ..."       # why this tolerance (an analysis, never "what passed")
    values:
      slopes/pai_random: -0.5180124785579109
      ...

A leaf of ``metrics.json`` is addressed by its path of keys joined with ``/`` (list items by their
index: ``dense_core/3/mean``). A number passes when ``|now - ref| <= max(abs, rel * |ref|)``; a string,
boolean or ``null`` must be equal. Every value is covered by the first group whose pattern matches it;
a key no group covers cannot be stored (:func:`update_values` only refreshes keys that some group
covers, and :func:`add_group` refuses a group without a tolerance and a reason).

Commands (``scripts/check_reference.py``, ``make check-reference``, ``make update-reference``)::

    python scripts/check_reference.py check                 # compare _build/outputs with the references
    python scripts/check_reference.py update [CHAPTER ...]  # after an intended change: new values, same
                                                            # groups, tolerances and reasons
    python scripts/check_reference.py add CHAPTER --name NAME --keys PATTERN ... --abs X --reason TEXT
    python scripts/check_reference.py noise CHAPTER BASE.json DOUBLED.json  # seed-noise estimate

Determinism (what makes two builds on one machine bit-identical) is documented in ``CONTRIBUTING.md``
("Reference numbers and determinism"); ``runtime_s`` and other wall-time fields are never stored here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "WALL_TIME_KEYS",
    "Group",
    "Reference",
    "Row",
    "ReferenceFileError",
    "add_group",
    "compare",
    "flatten",
    "format_table",
    "load_reference",
    "noise_estimate",
    "strip_wall_time",
    "update_values",
    "write_reference",
]

#: Leaf names that measure wall time (they differ between any two runs): never compared, and left
#: out of the bit-for-bit determinism test.
WALL_TIME_KEYS = ("runtime_s", "seconds", "wall_s", "elapsed_s")


class ReferenceFileError(ValueError):
    """A malformed reference file or a refused update (a :class:`ValueError`)."""


# --------------------------------------------------------------------------- paths


def flatten(metrics: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a ``metrics.json`` tree as ``{"a/b/0": value}`` (dict keys and list indices joined by ``/``).

    An empty dict or list is a leaf of its own (value ``{}`` / ``[]``).
    """
    out: dict[str, Any] = {}
    if isinstance(metrics, Mapping) and metrics:
        for k, v in metrics.items():
            out.update(flatten(v, f"{prefix}/{k}" if prefix else str(k)))
    elif isinstance(metrics, (list, tuple)) and metrics:
        for i, v in enumerate(metrics):
            out.update(flatten(v, f"{prefix}/{i}" if prefix else str(i)))
    else:
        out[prefix] = metrics
    return out


def strip_wall_time(metrics: Any) -> Any:
    """A copy of ``metrics`` without the wall-time leaves (:data:`WALL_TIME_KEYS`, at any depth)."""
    if isinstance(metrics, Mapping):
        return {k: strip_wall_time(v) for k, v in metrics.items() if k not in WALL_TIME_KEYS}
    if isinstance(metrics, list):
        return [strip_wall_time(v) for v in metrics]
    return metrics


def _pattern_regex(pattern: str) -> re.Pattern:
    """``*`` = any characters within one level, ``**`` = any characters across levels."""
    parts = re.split(r"(\*\*|\*)", pattern)
    body = "".join("(?:.*)" if p == "**" else "(?:[^/]*)" if p == "*" else re.escape(p) for p in parts)
    return re.compile(body + r"\Z")


# --------------------------------------------------------------------------- the file


@dataclass
class Group:
    """Keys that share a tolerance and its reason.

    Attributes:
        name: short name shown in the drift table.
        keys: patterns over flattened paths (``*`` one level, ``**`` any levels).
        abs: allowed absolute deviation (>= 0).
        rel: allowed deviation relative to ``|reference|`` (>= 0); the larger of the two applies.
        reason: why this tolerance (seed noise measured how, float rounding bound, ...).
    """

    name: str
    keys: list[str]
    abs: float = 0.0
    rel: float = 0.0
    reason: str = ""

    def matches(self, key: str) -> bool:
        return any(_pattern_regex(p).match(key) for p in self.keys)

    def allowed(self, ref: Any) -> float:
        """The allowed absolute deviation around the reference value ``ref``."""
        scale = abs(float(ref)) if _is_number(ref) else 0.0
        return max(self.abs, self.rel * scale)

    def describe(self) -> str:
        parts = ([f"abs {self.abs:g}"] if self.abs else []) + ([f"rel {self.rel:g}"] if self.rel else [])
        return " or ".join(parts) if parts else "exact"


@dataclass
class Reference:
    """One chapter's reference file (see the module docstring for the format)."""

    chapter: str
    groups: list[Group]
    values: dict[str, Any]
    header: str = ""  # comment lines written at the top of the file
    source: str = ""  # how the values were produced (command, date, code fingerprint)
    path: Path | None = field(default=None, compare=False)

    def group_of(self, key: str) -> Group | None:
        """The first group whose patterns match ``key`` (``None``: the key is not a reference number)."""
        return next((g for g in self.groups if g.matches(key)), None)


def _check_group(g: Group, where: str) -> None:
    if not g.name or not isinstance(g.name, str):
        raise ReferenceFileError(f"{where}: every group needs a name")
    if not g.keys or not all(isinstance(k, str) and k for k in g.keys):
        raise ReferenceFileError(f"{where}: group {g.name!r} needs 'keys', a list of patterns")
    for attr in ("abs", "rel"):
        v = getattr(g, attr)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise ReferenceFileError(f"{where}: group {g.name!r}: {attr} must be a number >= 0, got {v!r}")
    if g.abs == 0 and g.rel == 0:
        raise ReferenceFileError(
            f"{where}: group {g.name!r} has no tolerance (abs or rel > 0; for an exact value give the "
            "float rounding bound, e.g. rel 1e-12, with its reason)"
        )
    if not isinstance(g.reason, str) or len(g.reason.strip()) < 10:
        raise ReferenceFileError(f"{where}: group {g.name!r} needs a 'reason' (why this tolerance)")


def load_reference(path: str | Path) -> Reference:
    """Read and validate ``tests/reference/<chapter>.yaml``.

    Raises:
        ReferenceFileError: a group without name, keys, tolerance or reason; a value no group covers.
        OSError: the file cannot be read.
    """
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ReferenceFileError(f"{path}: must be a mapping with 'chapter', 'groups', 'values'")
    header = "".join(line + "\n" for line in path.read_text().splitlines() if line.startswith("#"))
    groups = []
    for i, g in enumerate(data.get("groups") or []):
        if not isinstance(g, dict):
            raise ReferenceFileError(f"{path}: group {i} must be a mapping")
        unknown = set(g) - {"name", "keys", "abs", "rel", "reason"}
        if unknown:
            raise ReferenceFileError(f"{path}: group {g.get('name', i)!r} has unknown fields {sorted(unknown)}")
        keys = g.get("keys")
        group = Group(name=g.get("name", ""), keys=[keys] if isinstance(keys, str) else list(keys or []),
                      abs=_tolerance(g.get("abs", 0.0)), rel=_tolerance(g.get("rel", 0.0)), reason=g.get("reason", ""))
        _check_group(group, str(path))
        groups.append(group)
    ref = Reference(chapter=str(data.get("chapter") or path.stem), groups=groups,
                    values=dict(data.get("values") or {}), header=header,
                    source=str(data.get("source") or ""), path=path)
    orphans = [k for k in ref.values if ref.group_of(k) is None]
    if orphans:
        raise ReferenceFileError(f"{path}: values without a group (no tolerance, no reason): {orphans[:5]}")
    return ref


def _yaml_float(v: float) -> str:
    """``repr`` with a mantissa dot (YAML 1.1, as PyYAML reads it, takes ``1e-06`` for a string)."""
    if not math.isfinite(v):
        return "null"
    r = repr(float(v))
    mant, _, exp = r.partition("e")
    return r if "." in mant or not exp else f"{mant}.0e{exp}"


def _tolerance(v: Any) -> Any:
    if isinstance(v, str):  # a hand-written 1e-12 (YAML 1.1 reads it as a string)
        try:
            return float(v)
        except ValueError:
            return v
    return v


def _dump_scalar(v: Any) -> str:
    if isinstance(v, float):
        return _yaml_float(v)
    return yaml.safe_dump(v, default_flow_style=True, width=10**6).strip().removesuffix("\n...").strip()


def write_reference(ref: Reference, path: str | Path | None = None) -> Path:
    """Write ``ref`` (one group per block, one value per line, floats with all their digits)."""
    path = Path(path or ref.path)
    lines = [ref.header.rstrip("\n")] if ref.header else []
    lines.append(f"chapter: {ref.chapter}")
    if ref.source:
        lines.append(f"source: {_dump_scalar(ref.source)}")
    lines.append("groups:")
    for g in ref.groups:
        lines.append(f"  - name: {_dump_scalar(g.name)}")
        lines.append(f"    keys: {_dump_scalar(list(g.keys))}")
        if g.abs:
            lines.append(f"    abs: {_yaml_float(g.abs)}")
        if g.rel:
            lines.append(f"    rel: {_yaml_float(g.rel)}")
        reason = yaml.safe_dump({"reason": g.reason}, width=100, allow_unicode=True).rstrip("\n")
        lines.extend("    " + line for line in reason.splitlines())
    lines.append("values:")
    for g in ref.groups:  # values ordered by group, then by key
        keys = sorted(k for k in ref.values if ref.group_of(k) is g)
        if keys:
            lines.append(f"  # {g.name}")
        lines.extend(f"  {_dump_scalar(k)}: {_dump_scalar(ref.values[k])}" for k in keys)
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- comparing


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass
class Row:
    """One line of the drift table."""

    key: str
    reference: Any
    now: Any
    tolerance: float | None  # allowed absolute deviation (None for non-numbers)
    group: str
    ok: bool
    note: str = ""

    @property
    def ratio(self) -> float:
        """``|now - reference| / tolerance`` (0 when equal, inf when not comparable)."""
        if self.note == "missing":
            return math.inf
        if _is_number(self.reference) and _is_number(self.now):
            d = abs(float(self.now) - float(self.reference))
            if d == 0:
                return 0.0
            return d / self.tolerance if self.tolerance else math.inf
        return 0.0 if self.ok else math.inf


def compare(ref: Reference, metrics: Mapping[str, Any]) -> list[Row]:
    """Compare a fresh ``metrics.json`` (as a dict) with the reference: one :class:`Row` per stored value."""
    now = flatten(metrics)
    rows = []
    for key in sorted(ref.values):
        group = ref.group_of(key)
        want = ref.values[key]
        if key not in now:
            rows.append(Row(key, want, None, group.allowed(want), group.name, False, "missing"))
            continue
        got = now[key]
        if _is_number(want) and _is_number(got):
            tol = group.allowed(want)
            ok = abs(float(got) - float(want)) <= tol
            rows.append(Row(key, want, got, tol, group.name, ok))
        else:
            rows.append(Row(key, want, got, None, group.name, want == got, "" if want == got else "differs"))
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if _is_number(v):
        return f"{v:.6g}"
    return str(v)


def format_table(rows: Iterable[Row], ref: Reference | None = None, only_failures: bool = True) -> str:
    """A plain-text table: number, reference, now, tolerance, |drift|/tolerance, reason (group);
    followed by the full reason of every group that appears (when ``ref`` is given)."""
    rows = [r for r in rows if not (only_failures and r.ok)]
    if not rows:
        return ""
    head = ("number", "reference", "now", "tolerance", "drift/tol", "reason")
    body = [(r.key, _fmt(r.reference), _fmt(r.now) if r.note != "missing" else "MISSING",
             _fmt(r.tolerance) if r.tolerance is not None else "equal",
             "inf" if math.isinf(r.ratio) else f"{r.ratio:.3g}", r.group) for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*head), line.format(*("-" * w for w in widths))]
    out += [line.format(*b) for b in body]
    if ref is not None:
        used = []
        for r in rows:
            if r.group not in used:
                used.append(r.group)
        for name in used:
            g = next(g for g in ref.groups if g.name == name)
            out.append(f"  [{name}] tolerance {g.describe()}: {g.reason.strip()}")
    return "\n".join(out)


# --------------------------------------------------------------------------- changing


def update_values(ref: Reference, metrics: Mapping[str, Any]) -> tuple[Reference, list[str]]:
    """New values from ``metrics`` for every key some group covers; groups, tolerances and reasons kept.

    Keys of ``metrics`` that no group covers are not stored (a number joins the reference only through
    a group with a tolerance and a reason: :func:`add_group`). Returns the new reference and one line
    per change (``changed``, ``added`` by an existing pattern, ``removed``: gone from the metrics).
    """
    now = {k: v for k, v in flatten(metrics).items() if k.rsplit("/", 1)[-1] not in WALL_TIME_KEYS}
    values = {k: v for k, v in now.items() if ref.group_of(k) is not None}
    notes = []
    for k in sorted(set(ref.values) | set(values)):
        if k not in values:
            notes.append(f"removed  {k} (was {_fmt(ref.values[k])}; no longer in metrics.json)")
        elif k not in ref.values:
            notes.append(f"added    {k} = {_fmt(values[k])} (group {ref.group_of(k).name})")
        elif values[k] != ref.values[k]:
            notes.append(f"changed  {k}: {_fmt(ref.values[k])} -> {_fmt(values[k])}")
    new = Reference(chapter=ref.chapter, groups=ref.groups, values=values, header=ref.header,
                    source=ref.source, path=ref.path)
    return new, notes


def add_group(ref: Reference, group: Group, metrics: Mapping[str, Any]) -> tuple[Reference, list[str]]:
    """Add ``group`` (validated: name, patterns, a tolerance > 0, a reason) and store its values.

    Raises:
        ReferenceFileError: an invalid group, a name already used, or patterns that match no number of
            ``metrics`` not already covered by an earlier group.
    """
    _check_group(group, ref.chapter)
    if any(g.name == group.name for g in ref.groups):
        raise ReferenceFileError(f"{ref.chapter}: a group named {group.name!r} exists already")
    flat = flatten(metrics)
    fresh = [k for k in flat if group.matches(k) and ref.group_of(k) is None
             and k.rsplit("/", 1)[-1] not in WALL_TIME_KEYS]
    if not fresh:
        raise ReferenceFileError(
            f"{ref.chapter}: {group.keys} match no number of metrics.json that is not already in a group"
        )
    grown = Reference(chapter=ref.chapter, groups=[*ref.groups, group], values=dict(ref.values),
                      header=ref.header, source=ref.source, path=ref.path)
    return update_values(grown, metrics)


# --------------------------------------------------------------------------- seed noise


def noise_estimate(ref: Reference, base: Mapping[str, Any], doubled: Mapping[str, Any]) -> list[dict]:
    """Seed standard error of each group's numbers, from a run at ``S`` seeds and one at ``2S``.

    With seeds ``0..S-1`` in ``base`` and ``0..2S-1`` in ``doubled``, a seed mean satisfies
    ``m_S - m_2S = (m_S - m'_S) / 2`` with ``m'_S`` the mean over the other ``S`` seeds, so
    ``Var(m_S - m_2S) = SE_S^2 / 2``: ``SE_S ~ sqrt(2) * |m_S - m_2S|``. One difference is a
    one-degree-of-freedom estimate, so it is pooled over a group (root mean square, absolute and
    relative to ``|m_S|``). For a number that is a smooth function of seed means (a slope, a norm of a
    seed-averaged graphon) this is the delta-method standard error plus any bias that shrinks with
    ``S``; the estimate is then an upper bound.

    Returns one dict per group: ``name, n, se_abs, se_rel`` (``n`` = numbers pooled).
    """
    a, b = flatten(base), flatten(doubled)
    out = []
    for g in ref.groups:
        keys = [k for k in ref.values if ref.group_of(k) is g and _is_number(a.get(k))
                and _is_number(b.get(k))]
        diffs = [float(a[k]) - float(b[k]) for k in keys]
        rels = [d / abs(float(a[k])) for d, k in zip(diffs, keys, strict=True) if float(a[k]) != 0]
        out.append({"name": g.name, "n": len(keys), "se_abs": _sqrt2_rms(diffs),
                    "se_rel": _sqrt2_rms(rels)})
    return out


def _sqrt2_rms(xs: list[float]) -> float:
    return math.sqrt(2 * sum(x * x for x in xs) / len(xs)) if xs else float("nan")


def read_json(path: str | Path) -> dict:
    """Read a ``metrics.json``."""
    return json.loads(Path(path).read_text())
