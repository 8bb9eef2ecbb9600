"""Reference numbers (graphon.reference, scripts/check_reference.py): the CI check fails with a table
when a number drifts beyond its tolerance, updates keep tolerances and reasons, and a number cannot
join a reference without a tolerance and a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_script

from graphon.reference import (
    Group,
    Reference,
    ReferenceFileError,
    add_group,
    compare,
    flatten,
    load_reference,
    update_values,
    write_reference,
)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
check_reference = load_script("check_reference")

METRICS = {
    "slopes": {"pai_random": -0.518, "pai_snip": -0.606},
    "flatness": {"snip": {"100": 0.2178, "400": 0.1934}},
    "dense_core": [{"n": 10, "mean": 2.5}, {"n": 30, "mean": 7.4}],
    "label": "constant graphon rho",
    "runtime_s": 31.6,
}
REASON = "seed noise: one standard error of the seed mean, measured from S and 2S seeds"


def _unflatten(flat: dict) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _write_case(tmp_path: Path, metrics: dict) -> tuple[Path, Path]:
    ref_dir, out_dir = tmp_path / "reference", tmp_path / "outputs"
    ref_dir.mkdir()
    (out_dir / "toy").mkdir(parents=True)
    ref = Reference(chapter="toy", values={}, path=ref_dir / "toy.yaml", groups=[
        Group("slopes", ["slopes/*"], abs=0.03, reason=REASON),
        Group("flatness", ["flatness/**"], rel=0.05, reason=REASON),
        Group("dense-core", ["dense_core/*/mean"], abs=0.2, reason=REASON),
        Group("labels", ["label"], rel=1e-12, reason="a string: must be equal"),
    ])
    ref, _ = update_values(ref, METRICS)
    write_reference(ref)
    (out_dir / "toy" / "metrics.json").write_text(json.dumps(metrics))
    return ref_dir, out_dir


def test_flatten_joins_keys_and_list_indices_with_slashes():
    flat = flatten(METRICS)
    assert flat["flatness/snip/400"] == 0.1934
    assert flat["dense_core/1/mean"] == 7.4
    assert flat["label"] == "constant graphon rho"


def test_round_trip_keeps_every_value_bit_for_bit(tmp_path):
    ref_dir, _ = _write_case(tmp_path, METRICS)
    ref = load_reference(ref_dir / "toy.yaml")
    assert ref.values == {k: v for k, v in flatten(METRICS).items()
                          if k not in ("runtime_s", "dense_core/0/n", "dense_core/1/n")}
    assert [g.reason for g in ref.groups][0] == REASON


def test_unchanged_metrics_pass(tmp_path, capsys):
    ref_dir, out_dir = _write_case(tmp_path, METRICS)
    code = check_reference.main(["check", "--reference", str(ref_dir), "--outputs", str(out_dir)])
    assert code == 0, capsys.readouterr().out
    assert "ok   toy: 7 numbers, 0 beyond tolerance" in capsys.readouterr().out


def test_a_drift_within_tolerance_passes_and_beyond_it_fails_with_the_table(tmp_path, capsys):
    within = json.loads(json.dumps(METRICS))
    within["slopes"]["pai_snip"] += 0.029  # abs tolerance 0.03
    within["flatness"]["snip"]["400"] *= 1.049  # rel tolerance 0.05
    within["runtime_s"] = 999.0  # wall time is never compared
    ref_dir, out_dir = _write_case(tmp_path, within)
    args = ["check", "--reference", str(ref_dir), "--outputs", str(out_dir)]
    assert check_reference.main(args) == 0, capsys.readouterr().out
    capsys.readouterr()

    beyond = json.loads(json.dumps(METRICS))
    beyond["slopes"]["pai_snip"] += 0.031
    beyond["dense_core"][1]["mean"] = 7.0
    (out_dir / "toy" / "metrics.json").write_text(json.dumps(beyond))
    assert check_reference.main(args) == 1
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("number"))
    assert header.split() == ["number", "reference", "now", "tolerance", "drift/tol", "reason"]
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith(("slopes/", "dense_core/"))}
    assert rows["slopes/pai_snip"][1:4] == ["-0.606", "-0.575", "0.03"]
    assert rows["slopes/pai_snip"][-1] == "slopes"
    assert rows["dense_core/1/mean"][1:4] == ["7.4", "7", "0.2"]
    assert "slopes/pai_random" not in rows  # only drifted numbers are listed
    assert f"[slopes] tolerance abs 0.03: {REASON}" in out
    assert "FAIL toy: 7 numbers, 2 beyond tolerance" in out
    assert "make update-reference" in out


def test_a_missing_number_or_a_changed_string_fails(tmp_path, capsys):
    changed = json.loads(json.dumps(METRICS))
    del changed["flatness"]["snip"]["100"]
    changed["label"] = "something else"
    ref_dir, out_dir = _write_case(tmp_path, changed)
    assert check_reference.main(["check", "--reference", str(ref_dir), "--outputs", str(out_dir)]) == 1
    out = capsys.readouterr().out
    assert "MISSING" in out and "something else" in out


def test_update_keeps_tolerances_and_reasons_and_stores_the_new_values(tmp_path, capsys):
    new = json.loads(json.dumps(METRICS))
    new["slopes"]["pai_snip"] = -0.7
    new["slopes"]["pai_grasp"] = -0.9  # covered by the existing pattern slopes/*: joins the group
    new["unrelated"] = 1.5  # no group covers it: not stored
    ref_dir, out_dir = _write_case(tmp_path, new)
    before = load_reference(ref_dir / "toy.yaml")
    args = ["--reference", str(ref_dir), "--outputs", str(out_dir)]
    assert check_reference.main(["update", *args]) == 0
    out = capsys.readouterr().out
    assert "changed  slopes/pai_snip: -0.606 -> -0.7" in out and "added    slopes/pai_grasp" in out
    after = load_reference(ref_dir / "toy.yaml")
    assert after.groups == before.groups
    assert after.values["slopes/pai_snip"] == -0.7 and "unrelated" not in after.values
    assert check_reference.main(["check", *args]) == 0


def test_adding_numbers_needs_a_tolerance_and_a_reason(tmp_path, capsys):
    new = {**METRICS, "extra": {"a": 1.0}}
    ref_dir, out_dir = _write_case(tmp_path, new)
    base = ["add", "toy", "--name", "extra", "--keys", "extra/*",
            "--reference", str(ref_dir), "--outputs", str(out_dir)]
    assert check_reference.main([*base, "--reason", REASON]) == 2  # no tolerance
    assert check_reference.main([*base, "--abs", "0.1"]) == 2  # no reason
    assert "needs a 'reason'" in capsys.readouterr().err
    assert check_reference.main([*base, "--abs", "0.1", "--reason", REASON]) == 0
    assert load_reference(ref_dir / "toy.yaml").values["extra/a"] == 1.0
    ref = load_reference(ref_dir / "toy.yaml")
    with pytest.raises(ReferenceFileError, match="match no number"):
        add_group(ref, Group("none", ["nothing/*"], abs=1.0, reason=REASON), new)


def test_a_value_without_a_group_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("chapter: bad\ngroups:\n  - name: a\n    keys: [a]\n    abs: 0.1\n"
                    f"    reason: '{REASON}'\nvalues:\n  a: 1.0\n  b: 2.0\n")
    with pytest.raises(ReferenceFileError, match="without a group"):
        load_reference(path)


# --------------------------------------------------------------------------- the committed files


def _committed():
    return sorted(REFERENCE.glob("*.yaml"), key=lambda p: p.name)


def test_every_chapter_has_a_reference_file():
    chapters = {p.stem for p in (ROOT / "book").glob("*.md") if ":tags: [parameters]" in p.read_text()}
    assert chapters and chapters <= {p.stem for p in _committed()}


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.stem)
def test_committed_reference_fails_on_a_perturbed_metrics_file(path, tmp_path, capsys):
    """Each committed reference: its own values pass; one number moved by twice its tolerance fails,
    and the table names it with its reference value, the new value, the tolerance and the reason."""
    ref = load_reference(path)
    if not ref.values:
        pytest.skip(f"{path.name}: groups committed, values not filled yet "
                    "(`make book && make update-reference`)")
    for g in ref.groups:
        assert any(ref.group_of(k) is g for k in ref.values), f"group {g.name} covers no number"
        assert "NOT MEASURED" not in g.reason, f"group {g.name}: tolerance not measured yet"
    out_dir = tmp_path / "outputs" / ref.chapter
    out_dir.mkdir(parents=True)
    metrics = _unflatten(ref.values)
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    args = ["check", ref.chapter, "--reference", str(REFERENCE), "--outputs", str(tmp_path / "outputs")]
    assert check_reference.main(args) == 0, capsys.readouterr().out
    capsys.readouterr()

    key = next(k for k, v in sorted(ref.values.items()) if isinstance(v, float))
    tol = ref.group_of(key).allowed(ref.values[key])
    flat = dict(ref.values)
    flat[key] = ref.values[key] + 2 * tol
    (out_dir / "metrics.json").write_text(json.dumps(_unflatten(flat)))
    assert check_reference.main(args) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(key + " "))
    assert row.split()[-2] == "2" and row.split()[-1] == ref.group_of(key).name
    assert f"[{ref.group_of(key).name}]" in out


def test_ci_checks_the_reference_numbers_after_the_book_build():
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make book") < ci.index("make check-reference")
    assert "check-reference:" in (ROOT / "Makefile").read_text()
    assert "update-reference:" in (ROOT / "Makefile").read_text()


def test_compare_reports_the_ratio_of_drift_to_tolerance():
    ref = Reference("toy", [Group("g", ["x"], abs=0.5, reason=REASON)], {"x": 1.0})
    (row,) = compare(ref, {"x": 1.25})
    assert row.ok and row.ratio == pytest.approx(0.5)
