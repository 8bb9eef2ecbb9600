"""Argument checks shared by every module.

Each check raises :class:`ValueError` whose message names the parameter, the allowed range and
the value received, so that a bad notebook parameter stops a run with a readable message instead
of producing a silently wrong figure.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence

__all__ = [
    "check_choice",
    "check_density",
    "check_float_list",
    "check_in_range",
    "check_int_list",
    "check_positive_int",
    "check_probability",
    "check_seeds",
]


def check_density(rho: float, name: str = "density") -> float:
    """Return ``rho`` as a float after checking that it lies in (0, 1].

    Raises:
        ValueError: if ``rho`` is not a finite number in the half-open interval (0, 1].
    """
    return check_in_range(rho, name, 0.0, 1.0, low_open=True, high_open=False)


def check_probability(p: float, name: str = "p") -> float:
    """Return ``p`` as a float after checking that it lies in (0, 1] (an edge floor or a probability)."""
    return check_in_range(p, name, 0.0, 1.0, low_open=True, high_open=False)


def check_in_range(
    value: float,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float after checking ``low <(=) value <(=) high``.

    Raises:
        ValueError: naming ``name`` and the interval when ``value`` is not a real number inside it.
    """
    lo_br, hi_br = ("(" if low_open else "["), (")" if high_open else "]")
    interval = f"{lo_br}{low:g}, {high:g}{hi_br}"
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}") from None
    bad_low = x <= low if low_open else x < low
    bad_high = x >= high if high_open else x > high
    if math.isnan(x) or bad_low or bad_high:
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return x


def check_positive_int(value: int, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int after checking it is an integer ``>= minimum``.

    Raises:
        ValueError: e.g. ``width must be an integer >= 1, got 0``.
    """
    if isinstance(value, str):  # e.g. one character of a list passed as text by papermill -p
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got the string {value!r} (a list given as "
            f"text? papermill -p passes text: use -y '{name}: [16, 32]', or check_int_list)"
        )
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return v


def check_choice(value: str, name: str, allowed: Iterable[str]) -> str:
    """Return ``value`` after checking it is one of ``allowed``.

    Raises:
        ValueError: e.g. ``method must be one of ['random', 'snip'], got 'snp'``.
    """
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_seeds(seeds: int | Sequence[int], name: str = "seeds") -> list[int]:
    """Normalise ``seeds`` to a non-empty list of non-negative integers.

    An integer ``k`` means the seeds ``0, 1, ..., k-1``; a sequence is taken as the seeds
    themselves (duplicates are refused, since they would silently repeat a draw).

    Raises:
        ValueError: for an empty list, a negative seed, a non-integer or a repeated seed.
    """
    if isinstance(seeds, (bool, str)):
        raise ValueError(f"{name} must be an integer >= 1 or a list of integers, got {seeds!r}")
    try:
        count = operator.index(seeds)  # an int (or numpy/torch integer scalar): that many seeds
    except TypeError:
        count = None
    if count is not None:
        return list(range(check_positive_int(count, name)))
    try:
        out = [check_positive_int(s, name, minimum=0) for s in seeds]
    except TypeError:
        raise ValueError(f"{name} must be an integer >= 1 or a list of integers, got {seeds!r}") from None
    if not out:
        raise ValueError(f"{name} must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a seed, got {seeds!r}")
    return out


def _papermill_hint(value, name: str, kind: str) -> str:
    example = "[16, 32]" if kind == "integers" else "[0.1, 0.2]"
    return (
        f"{name} must be a list of {kind}, got the string {value!r} "
        f"(papermill -p passes text: use -y '{name}: {example}')"
    )


def check_int_list(values: Sequence[int], name: str, minimum: int = 1) -> list[int]:
    """Return ``values`` as a list of ints, each checked by :func:`check_positive_int`.

    A string (what ``papermill -p widths "[16, 32]"`` passes into a notebook) is refused with a
    message that says so and shows the ``-y`` form that passes a real list.

    Raises:
        ValueError: for a string, a non-iterable, an empty list, or an element below ``minimum``.
    """
    if isinstance(values, str):
        raise ValueError(_papermill_hint(values, name, "integers"))
    try:
        out = [check_positive_int(v, name, minimum) for v in values]
    except TypeError:
        raise ValueError(f"{name} must be a list of integers >= {minimum}, got {values!r}") from None
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def check_float_list(
    values: Sequence[float],
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> list[float]:
    """Return ``values`` as a list of floats, each checked by :func:`check_in_range`.

    Raises:
        ValueError: for a string (with the papermill ``-y`` hint), a non-iterable, an empty list, or
        an element outside the interval.
    """
    if isinstance(values, str):
        raise ValueError(_papermill_hint(values, name, "numbers"))
    try:
        out = [
            check_in_range(v, name, low, high, low_open=low_open, high_open=high_open) for v in values
        ]
    except TypeError:
        raise ValueError(f"{name} must be a list of numbers, got {values!r}") from None
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out
