"""graphon.runs.params: the parameters-cell grammar, value validation and the run hash."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from graphon.runs.params import (
    Choices,
    ParameterError,
    Range,
    convert,
    params_hash,
    parse_chapter,
    parse_constraint,
    parse_source,
    specs_by_name,
    validate,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_BOOK = Path(__file__).resolve().parent / "fixtures" / "book"
REAL_CHAPTERS = ("convergence", "expressivity", "generalisation")

CELL = """\
width: int = 100  # hidden width n; range [1, inf)
density: float = 0.2  # density rho, fraction kept; range (0, 1]
widths: list[int] = [100, 200]  # hidden widths; range 1..10000
rhos: list[float] = [0.1, 0.5]  # densities; range (0, 1]
method: str = "snip"  # pruning criterion; choices random|magnitude|snip
methods: list[str] = ["random", "snip"]  # criteria; choices random|magnitude|snip
signed: bool = True  # keep signs
tag: str = "a # not a comment"  # free text with a hash inside the string
temperature: float = -1.5  # any real; range (-inf, inf)

# a whole-line comment and blank lines are allowed
device: str = "auto"  # where to compute; choices auto|cpu|cuda
output_dir: str = "../_build/outputs/x"  # where metrics.json and figures go
"""


@pytest.fixture(scope="module")
def specs():
    return specs_by_name(parse_source(CELL))


# --------------------------------------------------------------------------- grammar


def test_all_types_and_defaults(specs):
    assert [s.type for s in specs.values()] == [
        "int", "float", "list[int]", "list[float]", "str", "list[str]", "bool", "str", "float",
        "str", "str",
    ]
    assert specs["width"].default == 100 and isinstance(specs["width"].default, int)
    assert specs["density"].default == 0.2
    assert specs["widths"].default == [100, 200]
    assert specs["rhos"].default == [0.1, 0.5]
    assert specs["methods"].default == ["random", "snip"]
    assert specs["signed"].default is True
    assert specs["tag"].default == "a # not a comment"
    assert specs["tag"].help == "free text with a hash inside the string"
    assert specs["density"].help == "density rho, fraction kept"
    assert specs["signed"].constraint is None and specs["signed"].help == "keep signs"


def test_constraints(specs):
    assert specs["width"].constraint == Range(1, math.inf, False, True)
    assert specs["density"].constraint == Range(0, 1, True, False)
    assert specs["widths"].constraint == Range(1, 10000, False, False)  # LOW..HIGH is closed
    assert specs["temperature"].constraint == Range(-math.inf, math.inf, True, True)
    assert specs["method"].constraint == Choices(("random", "magnitude", "snip"))
    assert specs["methods"].constraint == Choices(("random", "magnitude", "snip"))
    assert str(specs["density"].constraint) == "range (0, 1]"
    assert str(specs["width"].constraint) == "range [1, inf)"
    assert str(specs["method"].constraint) == "choices random|magnitude|snip"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("range (0, 1]", Range(0, 1, True, False)),
        ("range [0.5, 2)", Range(0.5, 2, False, True)),
        ("range [1, inf)", Range(1, math.inf, False, True)),
        ("range [1, inf]", Range(1, math.inf, False, True)),  # an infinite end is always open
        ("range -inf..0", Range(-math.inf, 0, True, False)),
        ("range 1..10", Range(1, 10, False, False)),
        ("range (1e-3, 1]", Range(1e-3, 1, True, False)),
        ("choices relu|tanh|sigmoid|erf", Choices(("relu", "tanh", "sigmoid", "erf"))),
    ],
)
def test_parse_constraint(text, expected):
    assert parse_constraint(text) == expected


@pytest.mark.parametrize(
    "bad", ["range 0-1", "range (a, 1]", "range (2, 1]", "choices", "between 0 and 1"]
)
def test_parse_constraint_errors(bad):
    with pytest.raises(ParameterError):
        parse_constraint(bad)


@pytest.mark.parametrize(
    "cell, message",
    [
        ("x = 1  # no annotation", "expected 'name: type = literal"),
        ("x: complex = 1  # meaning", "allowed types"),
        ("x: int  # no default", "has no default"),
        ("x: int = len([1])  # computed", "must be a literal"),
        ("x: int = 1\nx: int = 2", "defined twice"),
        ("x: float = 2.0  # m; range (0, 1]", "default breaks its own rule"),
        ("x: str = 'gelu'  # m; choices relu|tanh", "default breaks its own rule"),
        ("x: int = 'a'  # m", "default breaks its own rule"),
        ("x: list[int] = 3  # m", "default breaks its own rule"),
        ("x: str = 'a'  # m; range (0, 1]", "a range needs a numeric type"),
        ("x: int = 1  # m; range 0 to 1", "cannot read constraint"),
        ("print('hi')", "expected 'name: type = literal"),
        ("x: int = (", "not valid Python"),
    ],
)
def test_grammar_errors(cell, message):
    with pytest.raises(ParameterError, match=message):
        parse_source(cell)


def test_fixture_chapter_parses():
    specs = specs_by_name(parse_chapter(FIXTURE_BOOK / "toy.md"))
    assert {"x", "n", "scales", "counts", "mode", "names", "flag", "device", "output_dir"} <= set(specs)
    assert specs["x"].constraint == Range(0, 10, True, False)


def test_agrees_with_papermill_inspect(tmp_path):
    """Our reading of name, type and default matches papermill's own."""
    import jupytext
    import papermill as pm

    nb_path = tmp_path / "toy.ipynb"
    jupytext.write(jupytext.read(FIXTURE_BOOK / "toy.md"), nb_path)
    theirs = pm.inspect_notebook(str(nb_path))
    ours = specs_by_name(parse_chapter(FIXTURE_BOOK / "toy.md"))
    assert list(theirs) == list(ours)
    for name, info in theirs.items():
        assert info["inferred_type_name"] == ours[name].type
        import ast

        assert ast.literal_eval(info["default"]) == ours[name].default
        assert ours[name].help.startswith(info["help"].split(";")[0].strip())


def test_chapter_without_parameters_cell_is_refused():
    with pytest.raises(ParameterError, match="not tagged 'parameters'"):
        parse_chapter(FIXTURE_BOOK / "notes.md")


# --------------------------------------------------------------------------- validation


def test_validate_returns_all_defaults(specs):
    values = validate(list(specs.values()), {})
    assert values == {s.name: s.default for s in specs.values()}
    assert list(values) == list(specs)


@pytest.mark.parametrize(
    "name, raw, expected",
    [
        ("width", "64", 64),
        ("width", 64, 64),
        ("width", "1e3", 1000),
        ("width", 128.0, 128),
        ("density", "0.1", 0.1),
        ("density", "1e-3", 1e-3),
        ("density", 1, 1.0),
        ("widths", "[1,2]", [1, 2]),
        ("widths", "1,2", [1, 2]),
        ("widths", "1, 2, 3", [1, 2, 3]),
        ("widths", "5", [5]),
        ("widths", [3, 4], [3, 4]),
        ("widths", 7, [7]),
        ("rhos", "[1e-3, 0.5]", [1e-3, 0.5]),
        ("rhos", "0.25", [0.25]),
        ("methods", "random,snip", ["random", "snip"]),
        ("methods", "[magnitude, snip]", ["magnitude", "snip"]),
        ("methods", "['snip']", ["snip"]),
        ("method", "magnitude", "magnitude"),
        ("method", '"magnitude"', "magnitude"),
        ("signed", "false", False),
        ("signed", "Yes", True),
        ("signed", "0", False),
        ("signed", False, False),
        ("tag", "hello world", "hello world"),
    ],
)
def test_conversions(specs, name, raw, expected):
    got = validate(list(specs.values()), {name: raw})[name]
    assert got == expected
    assert type(got) is type(expected)
    if isinstance(expected, list):
        assert [type(v) for v in got] == [type(v) for v in expected]


def test_unknown_name_suggests_and_lists(specs):
    with pytest.raises(ParameterError) as err:
        validate(list(specs.values()), {"densty": "0.1"}, chapter="convergence")
    msg = str(err.value)
    assert "unknown parameter 'densty' for chapter 'convergence'" in msg
    assert "did you mean 'density'" in msg
    assert "Allowed: width, density, widths" in msg


def test_unknown_name_without_close_match(specs):
    with pytest.raises(ParameterError, match=r"unknown parameter 'zzz'\. Allowed: width"):
        validate(list(specs.values()), {"zzz": 1})


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("width", "abc", "parameter 'width' expects int, got 'abc'"),
        ("width", "1.5", "not a whole number"),
        ("width", True, "expects int"),
        ("density", "high", "parameter 'density' expects float, got 'high'"),
        ("density", [0.1], "expects float"),
        ("signed", "maybe", "expects bool, got 'maybe' \\(use true or false\\)"),
        ("widths", "1,x", "parameter 'widths' expects list\\[int\\]"),
        ("widths", "[[1]]", "nested lists"),
        ("rhos", "[0.1, abc]", "expects list\\[float\\]"),
    ],
)
def test_wrong_type(specs, name, raw, message):
    with pytest.raises(ParameterError, match=message):
        validate(list(specs.values()), {name: raw})


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("density", "0", r"parameter 'density' = 0.0 is out of range \(0, 1\]"),
        ("density", "1.5", r"out of range \(0, 1\]"),
        ("density", "nan", "out of range"),
        ("width", "0", r"parameter 'width' = 0 is out of range \[1, inf\)"),
        ("widths", "100,20000", r"parameter 'widths' element 20000 is out of range \[1, 10000\]"),
        ("rhos", "0.5,0", r"element 0.0 is out of range \(0, 1\]"),
    ],
)
def test_out_of_range(specs, name, raw, message):
    with pytest.raises(ParameterError, match=message):
        validate(list(specs.values()), {name: raw})


def test_bad_choice_names_allowed_values(specs):
    with pytest.raises(ParameterError) as err:
        validate(list(specs.values()), {"method": "snp"})
    msg = str(err.value)
    assert "parameter 'method' = 'snp' is not an allowed choice" in msg
    assert "choices: random|magnitude|snip" in msg and "did you mean 'snip'" in msg
    with pytest.raises(ParameterError, match="element 'grasp' is not an allowed choice"):
        validate(list(specs.values()), {"methods": "random,grasp"})


def test_parameter_error_is_value_error():
    assert issubclass(ParameterError, ValueError)


def test_convert_default_mode_is_strict():
    spec = parse_source("x: float = 0.5  # m")[0]
    with pytest.raises(ParameterError):
        convert(spec, "0.5", from_text=False)
    assert convert(spec, "0.5") == 0.5


# --------------------------------------------------------------------------- hash


def test_hash_is_stable_and_short(specs):
    values = validate(list(specs.values()), {})
    h = params_hash("convergence", values)
    assert len(h) == 10 and all(c in "0123456789abcdef" for c in h)
    assert params_hash("convergence", dict(reversed(list(values.items())))) == h  # key order
    assert params_hash("convergence", {**values, "output_dir": "/elsewhere"}) == h  # location
    # the hash is part of the run folder name: it must not change between releases or machines
    import hashlib

    canonical = b'{"chapter":"toy","parameters":{"n":4,"x":1.0}}'
    assert params_hash("toy", {"x": 1.0, "n": 4}) == hashlib.sha256(canonical).hexdigest()[:10]
    assert params_hash("toy", {"x": 1.0, "n": 4}) == "0dad683831"


def test_hash_is_sensitive(specs):
    values = validate(list(specs.values()), {})
    h = params_hash("convergence", values)
    assert params_hash("expressivity", values) != h
    seen = {h}
    for name, raw in [("width", "101"), ("density", "0.21"), ("widths", "200,100"),
                      ("method", "random"), ("signed", "false"), ("device", "cpu")]:
        h2 = params_hash("convergence", validate(list(specs.values()), {name: raw}))
        assert h2 not in seen
        seen.add(h2)


# --------------------------------------------------------------------------- the real chapters


def _real(name: str) -> Path:
    path = ROOT / "book" / f"{name}.md"
    if not path.exists():
        pytest.skip(f"book/{name}.md is not written yet")
    return path


@pytest.mark.skipif(not (ROOT / "book" / "convergence.md").exists(), reason="chapters not written yet")
@pytest.mark.parametrize("chapter", REAL_CHAPTERS)
def test_real_chapter_parameters(chapter):
    """Each chapter's parameters cell parses, defaults satisfy their constraints (parse_source
    checks that), device/output_dir are there, and every preset names known parameters."""
    from graphon.runs.runner import discover_chapters, list_presets, load_preset

    path = _real(chapter)
    specs = parse_chapter(path)
    by_name = specs_by_name(specs)
    assert by_name["device"].constraint == Choices(("auto", "cpu", "cuda"))
    assert by_name["output_dir"].type == "str"
    assert chapter in discover_chapters(ROOT / "book")
    validate(specs, {}, chapter=chapter)
    for preset in list_presets(chapter, ROOT / "book"):
        values, _ = load_preset(chapter, preset, ROOT / "book")
        assert "output_dir" not in values, f"preset {preset} must not set output_dir"
        validate(specs, values, chapter=chapter)


@pytest.mark.parametrize("text", ["", "[]", "100,,200", "100,200,"])
def test_empty_lists_and_empty_elements_are_refused(text):
    (spec,) = parse_source("ws: list[int] = [1, 2]  # widths; range [1, inf)")
    with pytest.raises(ParameterError, match="empty"):
        convert(spec, text)
