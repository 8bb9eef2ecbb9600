"""Compare a book build's metrics with the committed reference numbers (``tests/reference/*.yaml``).

    python scripts/check_reference.py check  [CHAPTER ...] [--outputs _build/outputs] [--all]
    python scripts/check_reference.py update [CHAPTER ...] [--outputs _build/outputs] [--source TEXT]
    python scripts/check_reference.py add CHAPTER --name NAME --keys PATTERN [PATTERN ...]
                                          (--abs X | --rel X) --reason TEXT [--outputs ...]
    python scripts/check_reference.py noise CHAPTER BASE.json DOUBLED.json

``check`` (``make check-reference``, run by ``.ci/run`` after ``make book``) reads
``<outputs>/<chapter>/metrics.json`` for every reference file (or the chapters named) and prints, per
chapter, how many numbers were compared and the largest drift in units of its tolerance; when a number
drifts beyond its tolerance it prints the table (number, reference, now, tolerance, drift/tolerance,
reason) and exits with status 1. ``--all`` prints every row, passing or not.

``update`` (``make update-reference``) is the command to run after an *intended* change of a chapter:
it stores the fresh values of every key the reference's groups cover, keeping each group's tolerance
and reason, and lists what changed. It never adds a number that no group covers: ``add`` does, and only
with a tolerance (``--abs``/``--rel`` > 0) and a ``--reason``. ``noise`` prints each group's seed
standard error estimated from a run at the chapter's seeds and one at twice as many
(:func:`graphon.reference.noise_estimate`), the measurement behind a seed-noise tolerance.

Exit status: 0 ok, 1 drift or missing metrics, 2 bad arguments or a malformed reference file.
The format and the rules are in :mod:`graphon.reference` and ``CONTRIBUTING.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's graphon, also when run as a plain script

from graphon.reference import (  # noqa: E402
    Group,
    ReferenceFileError,
    add_group,
    compare,
    format_table,
    load_reference,
    noise_estimate,
    read_json,
    update_values,
    write_reference,
)

DEFAULT_REFERENCE = ROOT / "tests" / "reference"
DEFAULT_OUTPUTS = ROOT / "_build" / "outputs"


def _references(folder: Path, chapters: list[str]) -> list[Path]:
    paths = sorted(folder.glob("*.yaml"))
    if chapters:
        known = {p.stem: p for p in paths}
        missing = [c for c in chapters if c not in known]
        if missing:
            raise SystemExit(f"no reference file for {missing} in {folder} (have: {sorted(known)})")
        paths = [known[c] for c in chapters]
    return paths


def cmd_check(args) -> int:
    failed = False
    paths = _references(args.reference, args.chapters)
    if not paths:
        print(f"FAIL no reference files in {args.reference}")
        return 1
    for path in paths:
        ref = load_reference(path)
        mpath = args.outputs / ref.chapter / "metrics.json"
        if not mpath.is_file():
            print(f"FAIL {ref.chapter}: {mpath} does not exist (was the chapter built?)")
            failed = True
            continue
        if not ref.values:
            print(f"FAIL {ref.chapter}: {path.name} holds groups but no values yet; fill it from a build "
                  "with `make update-reference`")
            failed = True
            continue
        rows = compare(ref, read_json(mpath))
        bad = [r for r in rows if not r.ok]
        worst = max(rows, key=lambda r: r.ratio) if rows else None
        worst_txt = (f"largest drift {worst.ratio:.3g} x tolerance ({worst.key})"
                     if worst is not None and worst.ratio > 0 else "all equal to the reference")
        status = "FAIL" if bad else "ok  "
        print(f"{status} {ref.chapter}: {len(rows)} numbers, {len(bad)} beyond tolerance; {worst_txt}")
        table = format_table(rows, ref, only_failures=not args.all)
        if table:
            print(table)
            print()
        failed = failed or bool(bad)
    if failed:
        print("Reference check failed. If a drift is intended, run `make update-reference` "
              "(scripts/check_reference.py update) and commit tests/reference/.")
    return 1 if failed else 0


def cmd_update(args) -> int:
    for path in _references(args.reference, args.chapters):
        ref = load_reference(path)
        mpath = args.outputs / ref.chapter / "metrics.json"
        if not mpath.is_file():
            print(f"FAIL {ref.chapter}: {mpath} does not exist; build the chapter first")
            return 1
        new, notes = update_values(ref, read_json(mpath))
        if args.source:
            new.source = args.source
        write_reference(new, path)
        print(f"{ref.chapter}: {len(new.values)} numbers, {len(notes)} changes -> {path}")
        for line in notes:
            print("  " + line)
    return 0


def cmd_add(args) -> int:
    path = args.reference / f"{args.chapter}.yaml"
    ref = load_reference(path)
    mpath = args.outputs / ref.chapter / "metrics.json"
    group = Group(name=args.name, keys=args.keys, abs=args.abs or 0.0, rel=args.rel or 0.0,
                  reason=args.reason or "")
    new, notes = add_group(ref, group, read_json(mpath))
    write_reference(new, path)
    print(f"{ref.chapter}: group {args.name!r} added; {len(notes)} changes -> {path}")
    for line in notes:
        print("  " + line)
    return 0


def cmd_noise(args) -> int:
    ref = load_reference(args.reference / f"{args.chapter}.yaml")
    rows = noise_estimate(ref, read_json(args.base), read_json(args.doubled))
    print(f"{'group':<28} {'numbers':>7} {'SE (abs)':>10} {'SE (rel)':>10}  tolerance now")
    for r in rows:
        g = next(g for g in ref.groups if g.name == r["name"])
        print(f"{r['name']:<28} {r['n']:>7} {r['se_abs']:>10.3g} {r['se_rel']:>10.3g}  {g.describe()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, chapters=True):
        if chapters:
            p.add_argument("chapters", nargs="*", help="chapters (default: every reference file)")
        p.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="folder of <chapter>.yaml")
        p.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS,
                       help="folder holding <chapter>/metrics.json (default _build/outputs)")

    p = sub.add_parser("check", help="compare the built metrics with the references")
    common(p)
    p.add_argument("--all", action="store_true", help="print every number, not only the drifted ones")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("update", help="store fresh values after an intended change (groups kept)")
    common(p)
    p.add_argument("--source", help="how the values were made (stored in the file)")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser("add", help="add a group of numbers with its tolerance and reason")
    common(p, chapters=False)
    p.add_argument("chapter")
    p.add_argument("--name", required=True)
    p.add_argument("--keys", nargs="+", required=True, help="patterns: '/' between levels, * one level")
    p.add_argument("--abs", type=float, help="allowed absolute deviation")
    p.add_argument("--rel", type=float, help="allowed deviation relative to |reference|")
    p.add_argument("--reason", help="why this tolerance (required)")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("noise", help="seed standard error per group from an S-seed and a 2S-seed run")
    p.add_argument("chapter")
    p.add_argument("base", type=Path, help="metrics.json of the run at the chapter's seeds")
    p.add_argument("doubled", type=Path, help="metrics.json of the run at twice the seeds")
    p.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    p.set_defaults(func=cmd_noise)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ReferenceFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
