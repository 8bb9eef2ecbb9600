"""A chapter's parameters: read the ``parameters`` cell, check new values, hash a parameter set.

The first code cell of every chapter (tagged ``parameters``) holds only lines of the form
(see ``CONTRIBUTING.md``)::

    name: type = literal  # meaning[; range LOW..HIGH | ; range (a, b] | ; choices a|b|c]

``type`` is one of ``int``, ``float``, ``str``, ``bool``, ``list[int]``, ``list[float]``,
``list[str]``. The optional constraint is machine read: ``range (0, 1]`` (brackets mark open or
closed ends, ``inf``/``-inf`` allowed), ``range 1..10`` (both ends closed) or
``choices relu|tanh``; for a list type the constraint applies to each element.

:func:`parse_chapter` turns that cell into :class:`ParameterSpec` objects, :func:`validate`
converts command-line strings (or preset YAML values) to typed values and checks them, and
:func:`params_hash` gives the short stable hash that names a run folder. Every problem raises
:class:`ParameterError` (a :class:`ValueError`) with a one-line message that names the allowed
values.
"""

from __future__ import annotations

import ast
import copy
import difflib
import hashlib
import io
import json
import math
import re
import tokenize
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "TYPES",
    "Choices",
    "ParameterError",
    "ParameterSpec",
    "Range",
    "convert",
    "parameters_cell",
    "params_hash",
    "parse_chapter",
    "parse_constraint",
    "parse_source",
    "specs_by_name",
    "split_list_text",
    "unknown_parameter_error",
    "validate",
]

#: Parameter types allowed by the grammar.
TYPES = ("int", "float", "str", "bool", "list[int]", "list[float]", "list[str]")

#: Parameters the runner sets itself; they never enter the run hash.
LOCATION_PARAMETERS = ("output_dir",)

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class ParameterError(ValueError):
    """A parameter cell that breaks the grammar, or a value that breaks a parameter's contract."""


# --------------------------------------------------------------------------- constraints


@dataclass(frozen=True)
class Range:
    """A numeric interval; ``low_open``/``high_open`` mark open ends."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        """True when ``value`` lies inside the interval (NaN never does)."""
        if isinstance(value, float) and math.isnan(value):
            return False
        ok_low = value > self.low if self.low_open else value >= self.low
        ok_high = value < self.high if self.high_open else value <= self.high
        return ok_low and ok_high

    def describe(self) -> str:
        """The interval in the grammar's notation, e.g. ``(0, 1]``."""
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        return f"{lo}{_fmt_bound(self.low)}, {_fmt_bound(self.high)}{hi}"

    def __str__(self) -> str:
        return f"range {self.describe()}"


@dataclass(frozen=True)
class Choices:
    """A finite set of allowed (string) values."""

    values: tuple[str, ...]

    def contains(self, value: Any) -> bool:
        """True when ``value`` (or its text, for numeric choices) is one of the choices."""
        return value in self.values or (not isinstance(value, str) and str(value) in self.values)

    def describe(self) -> str:
        """The choices in the grammar's notation, e.g. ``relu|tanh``."""
        return "|".join(self.values)

    def __str__(self) -> str:
        return f"choices {self.describe()}"


def _fmt_bound(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{int(x)}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _parse_bound(text: str, what: str) -> float:
    t = text.strip().lower()
    if t in ("inf", "+inf", "infinity"):
        return math.inf
    if t in ("-inf", "-infinity"):
        return -math.inf
    try:
        return float(t)
    except ValueError:
        raise ParameterError(f"cannot read the {what} bound {text!r} of a range") from None


_INTERVAL = re.compile(r"^([\[(])\s*([^,]+?)\s*,\s*([^,]+?)\s*([\])])$")
_DOTS = re.compile(r"^(\S+?)\s*\.\.\s*(\S+)$")


def parse_constraint(text: str) -> Range | Choices:
    """Read a constraint such as ``range (0, 1]``, ``range 1..10`` or ``choices a|b|c``.

    Raises:
        ParameterError: when ``text`` follows none of these forms.
    """
    text = text.strip()
    kind, _, rest = text.partition(" ")
    rest = rest.strip()
    if kind == "range":
        m = _INTERVAL.match(rest)
        if m:
            lo = _parse_bound(m.group(2), "low")
            hi = _parse_bound(m.group(3), "high")
            low_open, high_open = m.group(1) == "(", m.group(4) == ")"
        else:
            m = _DOTS.match(rest)
            if not m:
                raise ParameterError(
                    f"cannot read constraint {text!r}: expected 'range (a, b]' or 'range LOW..HIGH'"
                )
            lo, hi = _parse_bound(m.group(1), "low"), _parse_bound(m.group(2), "high")
            low_open = high_open = False
        if lo > hi:
            raise ParameterError(f"empty range in constraint {text!r}: low > high")
        return Range(lo, hi, low_open or math.isinf(lo), high_open or math.isinf(hi))
    if kind == "choices":
        values = tuple(v.strip() for v in rest.split("|") if v.strip())
        if not values:
            raise ParameterError(f"constraint {text!r} lists no choices")
        return Choices(values)
    raise ParameterError(f"unknown constraint {text!r}: expected 'range ...' or 'choices a|b'")


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class ParameterSpec:
    """One line of a chapter's parameters cell.

    Attributes:
        name: the variable name.
        type: one of :data:`TYPES`.
        default: the literal value in the cell.
        help: the comment's meaning part (before the constraint).
        constraint: a :class:`Range`, :class:`Choices` or ``None``.
    """

    name: str
    type: str
    default: Any
    help: str = ""
    constraint: Range | Choices | None = field(default=None)

    @property
    def is_list(self) -> bool:
        return self.type.startswith("list[")

    @property
    def element_type(self) -> str:
        return self.type[5:-1] if self.is_list else self.type

    def describe_constraint(self) -> str:
        return "" if self.constraint is None else str(self.constraint)


_CONSTRAINT_SPLIT = re.compile(r";\s*(?=(?:range|choices)\s)")


def _split_comment(comment: str) -> tuple[str, Range | Choices | None]:
    text = comment.lstrip("#").strip()
    parts = _CONSTRAINT_SPLIT.split(text)
    if len(parts) == 1:
        return text, None
    if len(parts) > 2:
        raise ParameterError(f"more than one constraint in comment {comment!r}")
    return parts[0].strip().rstrip(";").strip(), parse_constraint(parts[1])


def parse_source(source: str, where: str = "parameters cell") -> list[ParameterSpec]:
    """Parse the text of a parameters cell into specs (in cell order).

    Blank lines and whole-line comments are allowed; every statement must be
    ``name: type = literal`` with a literal Python value, a known type and a default of that type
    that satisfies the constraint.

    Raises:
        ParameterError: naming ``where``, the line and what is wrong.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"{where}: line {exc.lineno}: not valid Python ({exc.msg})") from None
    comments: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string
    except tokenize.TokenError:  # pragma: no cover - ast.parse accepted it
        pass
    lines = source.splitlines()
    specs: list[ParameterSpec] = []
    seen: set[str] = set()
    for node in tree.body:
        line = node.lineno
        text = lines[line - 1].strip() if line - 1 < len(lines) else ""
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            raise ParameterError(
                f"{where}: line {line}: expected 'name: type = literal  # meaning', got {text!r}"
            )
        name = node.target.id
        type_ = ast.get_source_segment(source, node.annotation) or ""
        type_ = re.sub(r"\s+", "", type_)
        if type_ not in TYPES:
            raise ParameterError(
                f"{where}: line {line}: parameter {name!r} has type {type_!r}; "
                f"allowed types: {', '.join(TYPES)}"
            )
        if node.value is None:
            raise ParameterError(f"{where}: line {line}: parameter {name!r} has no default value")
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(
                f"{where}: line {line}: the default of {name!r} must be a literal value, got "
                f"{ast.get_source_segment(source, node.value)!r}"
            ) from None
        if name in seen:
            raise ParameterError(f"{where}: line {line}: parameter {name!r} is defined twice")
        seen.add(name)
        comment = comments.get(node.end_lineno or line, "")
        help_, constraint = _split_comment(comment) if comment else ("", None)
        if isinstance(constraint, Range) and type_ not in ("int", "float", "list[int]", "list[float]"):
            raise ParameterError(
                f"{where}: line {line}: a range needs a numeric type, {name!r} is {type_}"
            )
        spec = ParameterSpec(name, type_, default, help_, constraint)
        try:
            checked = convert(spec, default, from_text=False)
        except ParameterError as exc:
            raise ParameterError(f"{where}: line {line}: the default breaks its own rule: {exc}") from None
        specs.append(ParameterSpec(name, type_, checked, help_, constraint))
    return specs


def parameters_cell(notebook) -> str:
    """Return the source of the notebook's first code cell, which must be tagged ``parameters``.

    Raises:
        ParameterError: when there is no code cell or the first one is not tagged ``parameters``.
    """
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if "parameters" in cell.metadata.get("tags", []):
            return cell.source
        raise ParameterError("the first code cell is not tagged 'parameters'")
    raise ParameterError("the notebook has no code cell")


def parse_chapter(path: str | Path) -> list[ParameterSpec]:
    """Read a chapter (any jupytext format, e.g. MyST ``.md``) and parse its parameters cell.

    Raises:
        ParameterError: when the first code cell is not a ``parameters`` cell or breaks the grammar.
    """
    import jupytext

    path = Path(path)
    nb = jupytext.read(path)
    try:
        source = parameters_cell(nb)
    except ParameterError as exc:
        raise ParameterError(f"{path.name}: {exc}") from None
    return parse_source(source, where=f"{path.name} parameters cell")


def specs_by_name(specs: Iterable[ParameterSpec]) -> dict[str, ParameterSpec]:
    return {s.name: s for s in specs}


# --------------------------------------------------------------------------- conversion


def _type_error(spec: ParameterSpec, value: Any, detail: str = "") -> ParameterError:
    expected = spec.type
    if spec.is_list:
        expected += f" (e.g. '[1,2]' or '1,2' for {spec.type})"
    extra = f" ({detail})" if detail else ""
    return ParameterError(
        f"parameter {spec.name!r} expects {expected}, got {value!r}{extra}"
    )


def _scalar(spec: ParameterSpec, etype: str, value: Any, whole: Any) -> Any:
    """Convert one scalar (a list element or the value itself) to ``etype``."""
    if isinstance(value, str):
        s = value.strip()
        if etype == "str":
            if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
                return s[1:-1]
            return value if not spec.is_list else s
        if etype == "bool":
            low = s.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise _type_error(spec, whole, "use true or false")
        if etype == "int":
            try:
                return int(s.replace("_", ""))
            except ValueError:
                try:
                    f = float(s)
                except ValueError:
                    raise _type_error(spec, whole) from None
                if f.is_integer():
                    return int(f)
                raise _type_error(spec, whole, "not a whole number") from None
        if etype == "float":
            try:
                return float(s)
            except ValueError:
                raise _type_error(spec, whole) from None
    if etype == "str":
        if isinstance(value, str):
            return value
        raise _type_error(spec, whole)
    if isinstance(value, bool):
        if etype == "bool":
            return value
        raise _type_error(spec, whole)
    if etype == "bool":
        raise _type_error(spec, whole, "use true or false")
    if etype == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _type_error(spec, whole, "not a whole number" if isinstance(value, float) else "")
    if etype == "float":
        if isinstance(value, (int, float)):
            return float(value)
        raise _type_error(spec, whole)
    raise _type_error(spec, whole)  # pragma: no cover


def split_list_text(text: str) -> list[str]:
    """Split ``'1, 2,3'`` at commas that are not inside brackets or quotes."""
    parts, depth, quote, buf = [], 0, "", []
    for ch in text:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf).strip())
    return parts  # empty items ('1,,2', '1,2,') are kept so that the caller refuses them


def _as_list(spec: ParameterSpec, value: Any) -> list:
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                loaded = yaml.safe_load(s)
            except yaml.YAMLError:
                raise _type_error(spec, value, "not a valid list") from None
            if not isinstance(loaded, list):  # pragma: no cover - '[' always gives a list
                raise _type_error(spec, value)
            return loaded  # text elements such as '1e-3' are converted per element later
        if s == "":
            return []
        return split_list_text(s)
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _check_constraint(spec: ParameterSpec, values: Sequence[Any], whole: Any) -> None:
    c = spec.constraint
    if c is None:
        return
    for v in values:
        if c.contains(v):
            continue
        what = f"element {v!r}" if spec.is_list else f"= {v!r}"
        shown = list(values)
        if isinstance(c, Choices):
            hint = difflib.get_close_matches(str(v), c.values, n=1)
            did = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ParameterError(
                f"parameter {spec.name!r} {what} is not an allowed choice; "
                f"choices: {c.describe()}{did}"
            )
        raise ParameterError(
            f"parameter {spec.name!r} {what} is out of range {c.describe()}"
            + ("" if not spec.is_list else f" (value {shown!r})")
        )


def convert(spec: ParameterSpec, value: Any, *, from_text: bool = True) -> Any:
    """Convert ``value`` (a command-line string, or a YAML/Python value) to ``spec.type`` and check it.

    Strings are read leniently: ``"0.1"``, ``"1e-3"``, ``"true"``; lists as ``"[1,2]"``, ``"1,2"``
    or a single ``"5"``. With ``from_text=False`` strings are only accepted for ``str`` types
    (that is how a default in the cell is checked).

    Raises:
        ParameterError: wrong type (expected vs got), value out of range, value not a choice.
    """
    etype = spec.element_type
    if spec.is_list:
        if not from_text and not isinstance(value, (list, tuple)):
            raise _type_error(spec, value)
        items = _as_list(spec, value) if from_text else list(value)
        if not items:
            raise _type_error(spec, value, "an empty list")
        if any(isinstance(item, str) and item.strip() == "" for item in items):
            raise _type_error(spec, value, "an empty element")
        out = []
        for item in items:
            if not from_text and isinstance(item, str) and etype != "str":
                raise _type_error(spec, value)
            if isinstance(item, (list, tuple, dict)):
                raise _type_error(spec, value, "nested lists are not allowed")
            out.append(_scalar(spec, etype, item, value))
        _check_constraint(spec, out, value)
        return out
    if isinstance(value, (list, tuple, dict)):
        raise _type_error(spec, value)
    if not from_text and isinstance(value, str) and etype != "str":
        raise _type_error(spec, value)
    v = _scalar(spec, etype, value, value)
    _check_constraint(spec, [v], value)
    return v


def unknown_parameter_error(name: str, allowed: Sequence[str], chapter: str | None) -> ParameterError:
    where = f" for chapter {chapter!r}" if chapter else ""
    hint = difflib.get_close_matches(name, allowed, n=3, cutoff=0.5)
    did = f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""
    sep = " " if did else ". "
    return ParameterError(f"unknown parameter {name!r}{where}{did}{sep}Allowed: {', '.join(allowed)}")


def validate(
    specs: Sequence[ParameterSpec],
    overrides: Mapping[str, Any],
    *,
    chapter: str | None = None,
) -> dict[str, Any]:
    """Return the full parameter set: defaults, with ``overrides`` converted and checked.

    Args:
        specs: the chapter's parameters (from :func:`parse_chapter`).
        overrides: name -> value; values may be command-line strings or typed YAML values.
        chapter: the chapter name, only used in messages.

    Returns:
        dict name -> typed value for every parameter, in cell order.

    Raises:
        ParameterError: unknown name (with close matches and the allowed names), wrong type,
        out of range or not a choice (naming the allowed values).
    """
    by_name = specs_by_name(specs)
    allowed = list(by_name)
    values = {s.name: copy.deepcopy(s.default) for s in specs}
    for name, raw in overrides.items():
        if name not in by_name:
            raise unknown_parameter_error(name, allowed, chapter)
        values[name] = convert(by_name[name], raw, from_text=True)
    return values


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces: the text that :func:`params_hash` hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def params_hash(chapter: str, values: Mapping[str, Any], length: int = 10) -> str:
    """Short stable hash of a chapter and its full resolved parameter set.

    It is the first ``length`` hex digits of the SHA-256 of the canonical JSON of
    ``{"chapter": chapter, "parameters": values}``. ``output_dir`` (where results go, set by the
    runner) is left out, so the same parameters give the same hash whatever the run folder. Floats
    that are whole numbers hash like themselves (``1.0`` and ``1`` differ only if their types do,
    which :func:`validate` makes consistent).
    """
    params = {k: v for k, v in values.items() if k not in LOCATION_PARAMETERS}
    payload = canonical_json({"chapter": chapter, "parameters": params})
    return hashlib.sha256(payload.encode()).hexdigest()[:length]
