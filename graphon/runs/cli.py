"""Command line: ``python -m graphon run|sweep|list`` (also installed as ``graphon-run``).

Examples::

    python -m graphon list
    python -m graphon run convergence --help            # the chapter's parameters
    python -m graphon run convergence -p density 0.1 -p widths 100,200 --device cpu
    python -m graphon run convergence --preset paper
    python -m graphon sweep convergence --grid density=0.05,0.1,0.2 --jobs 2

Exit status: 0 success; 1 a notebook cell raised or the kernel died (the executed notebook is kept
and its path printed); 2 a bad command line (unknown chapter, preset or parameter, wrong type, value
out of range or not a choice, a broken rule of book/rules/<chapter>.yaml, cuda without a GPU, a run
that does not fit in memory, an unwritable folder), with a one-line message naming the parameter;
128 + N when stopped by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), the run marked interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import textwrap
from pathlib import Path

from .params import ParameterError, ParameterSpec, parse_chapter
from .sweep import CLUSTERS, FORMATS

__all__ = ["main", "build_parser", "chapter_help"]

COMMANDS = ("run", "sweep", "list")
DEVICES = ("auto", "cpu", "cuda")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (try: {self.prog} --help)\n")


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v) if v == "" or " " in v else v
    if isinstance(v, list):
        return "[" + ",".join(_fmt_value(x) for x in v) + "]"
    return str(v)


def parameter_table(specs: list[ParameterSpec], width: int = 100) -> str:
    """A readable table: name, type, default, then meaning and constraint (wrapped)."""
    name_w = max([len(s.name) for s in specs] + [4])
    type_w = max([len(s.type) for s in specs] + [4])
    lines = []
    for s in specs:
        default = _fmt_value(s.default)
        head = f"  {s.name:<{name_w}}  {s.type:<{type_w}}  default {default}"
        lines.append(head)
        extra = s.help + (f"; {s.describe_constraint()}" if s.constraint else "")
        if extra:
            indent = " " * (name_w + 4)
            lines.extend(
                textwrap.wrap(extra, width=width, initial_indent=indent, subsequent_indent=indent)
            )
    return "\n".join(lines)


def chapter_help(chapter: str, book_dir: str | Path | None, command: str = "run") -> str:
    """The parameter listing printed by ``run CHAPTER --help``."""
    from .runner import find_chapter, list_presets

    path = find_chapter(chapter, book_dir)
    specs = parse_chapter(path)
    presets = list_presets(chapter, book_dir)
    out = [
        f"Parameters of chapter {chapter!r} ({path}); set with -p NAME VALUE"
        + (" or sweep with --grid NAME=v1,v2" if command == "sweep" else "")
        + ":",
        "",
        parameter_table(specs),
        "",
        "Values: numbers as 0.1 or 1e-3; booleans true|false; lists as 1,2,3 or '[1, 2, 3]'.",
        "output_dir is set by the runner (use --out DIR).",
        "Presets: "
        + (", ".join(f"{k} ({v})" for k, v in presets.items()) if presets else "none")
        + ("  (use --preset NAME)" if presets else ""),
    ]
    return "\n".join(out)


def _common(p: argparse.ArgumentParser, *, sweep: bool) -> None:
    p.add_argument("chapter", nargs="?", metavar="CHAPTER", help="chapter name (see 'list')")
    p.add_argument("-h", "--help", action="store_true", help="show this help (and, with CHAPTER, its parameters)")
    p.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a parameter (repeatable); e.g. -p density 0.1 -p widths 100,200",
    )
    p.add_argument("--preset", metavar="NAME", help="preset name (book/presets/<chapter>-NAME.yaml) or a YAML path")
    p.add_argument("--device", choices=DEVICES, help="where to compute (sets the chapter's device parameter)")
    p.add_argument(
        "--out",
        metavar="DIR",
        help=(
            "sweep folder for sweep.yaml, logs, table and figure (default "
            "runs/<chapter>/sweep-<hash>/); points always go to runs/<chapter>/points/"
            if sweep
            else "run folder (default runs/<chapter>/<YYYYmmdd-HHMMSS>-<hash>/); must be new or empty"
        ),
    )
    p.add_argument("--book-dir", metavar="DIR", help="folder of the chapters (default: book/, or $GRAPHON_BOOK_DIR)")
    p.add_argument("--runs-dir", metavar="DIR", help="root of run folders (default: runs/, or $GRAPHON_RUNS_DIR)")
    p.add_argument(
        "--force",
        action="store_true",
        help="run even when the chapter's memory estimate exceeds the free memory",
    )


def _prog() -> str:
    return "graphon-run" if Path(sys.argv[0]).name == "graphon-run" else "python -m graphon"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog or _prog(),
        description="Rerun the chapters of the graphon-PaI book with new parameters, or sweep a grid.",
        epilog=f"Run '{prog or _prog()} run CHAPTER --help' to see a chapter's parameters.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"graphon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{run,sweep,list}", parser_class=_Parser)

    run = sub.add_parser(
        "run",
        add_help=False,
        help="execute one chapter with new parameters",
        description="Execute one chapter with new parameters; results go to a new run folder.",
    )
    _common(run, sweep=False)
    run.add_argument("--progress", action="store_true", help="show a progress bar over the cells")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="check the parameters and print the predicted memory and wall time (CPU, GPU); run nothing",
    )

    sweep = sub.add_parser(
        "sweep",
        add_help=False,
        help="run a chapter over a grid of parameters (resumable)",
        description=(
            "Run a chapter over the cartesian product of --grid values. Points are kept in "
            "runs/<chapter>/points/, shared by every sweep of the chapter: a point already run "
            "by the same code is skipped, so rerunning the same command resumes an interrupted "
            "sweep and a changed grid runs only its new points."
        ),
    )
    _common(sweep, sweep=True)
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="values of one parameter (repeatable; cartesian product). Lists: widths=[100,200],[400]",
    )
    sweep.add_argument("--jobs", type=int, default=1, metavar="N", help="points run at once (default 1)")
    sweep.add_argument("--cluster", choices=CLUSTERS, default="local", help="local processes or Ray tasks")
    sweep.add_argument("--address", metavar="ADDR", help="Ray cluster address (default: start Ray locally)")
    sweep.add_argument("--format", choices=FORMATS, default="csv", help="results table format")
    sweep.add_argument(
        "--plot",
        action="append",
        metavar="PATTERN",
        help="metric columns drawn in summary.png (glob, repeatable; e.g. 'cut_distance.*'); "
        "default: the first 12 numeric metrics",
    )

    lst = sub.add_parser("list", help="list chapters and presets", description="List chapters and their presets.")
    lst.add_argument("chapter", nargs="?", metavar="CHAPTER", help="show this chapter's parameters")
    lst.add_argument("--book-dir", metavar="DIR", help="folder of the chapters (default: book/, or $GRAPHON_BOOK_DIR)")
    return parser


def _overrides(pairs: list[list[str]]) -> dict[str, str]:
    return {name: value for name, value in pairs}  # the last -p of a name wins


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cmd_list(args) -> int:
    from .runner import default_book_dir, discover_chapters, list_presets

    book = Path(args.book_dir) if args.book_dir else default_book_dir()
    if args.chapter:
        print(chapter_help(args.chapter, book))
        return 0
    chapters = discover_chapters(book)
    if not chapters:
        print(f"no chapters in {book}")
        return 0
    name_w = max(len(c) for c in [*chapters, "chapter"])
    rows = []
    for name, path in chapters.items():
        n = len(parse_chapter(path))
        presets = ", ".join(list_presets(name, book)) or "-"
        rows.append((name, n, presets, _title(path)))
    pre_w = max(len(r[2]) for r in [*rows, ("", 0, "presets", "")])
    print(f"{'chapter':<{name_w}}  parameters  {'presets':<{pre_w}}  title")
    for name, n, presets, title in rows:
        print(f"{name:<{name_w}}  {n:>10}  {presets:<{pre_w}}  {title}")
    print(f"\n(book folder: {book}; 'python -m graphon run CHAPTER --help' lists a chapter's parameters)")
    return 0


def _title(path: Path) -> str:
    """The first level-1 heading of a MyST chapter (outside its front matter)."""
    text = path.read_text(encoding="utf-8")
    if text.startswith("---"):
        end = text.find("\n---", 3)
        text = text[end + 4 :] if end >= 0 else text
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def _cmd_dry_run(args) -> int:
    from .rules import gib, human_seconds
    from .runner import plan_run

    plan = plan_run(
        args.chapter, overrides=_overrides(args.param), preset=args.preset, device=args.device,
        book_dir=args.book_dir,
    )
    rules, est = plan["rules"], plan["estimate"]
    print(f"dry run: {args.chapter} (hash {plan['hash']}); nothing is run or written")
    print("parameters: " + ", ".join(f"{k}={_fmt_value(v)}" for k, v in plan["parameters"].items()))
    checks = len(rules.rules) + len(rules.lists)
    src = f" ({rules.path})" if rules.path else " (no declaration file)"
    print(f"checks: types and ranges, {checks} declared rules{src}, device: all pass")
    if est.memory_bytes is not None:
        free = plan["free_memory"]
        fits = "" if free is None else (
            f"; {gib(free)} free now: " + ("fits" if est.memory_bytes <= free else
                                          "does NOT fit (a real run is refused unless --force)")
        )
        print(f"memory: about {gib(est.memory_bytes)} at peak{fits}")
    else:
        print("memory: no model declared")
    if est.seconds_cpu is not None:
        c = rules.cost
        print(
            f"wall time on this CPU: about {human_seconds(est.seconds_cpu)} "
            f"({c.get('basis', 'measured')} scaling: time ~ n^{float(c['exponent_n']):.2f} x seeds^"
            f"{float(c.get('exponent_seeds', 1)):.2f}, n = {c['n']} = {est.n:g}, seeds = {est.seeds:g};"
            f" fitted on {c.get('measured', {}).get('machine', 'this machine')})"
        )
        if est.seconds_gpu is not None:
            print(
                f"wall time on one GPU: about {human_seconds(est.seconds_gpu)} (an estimate, not a "
                f"measurement: the variable part divided by {rules.gpu_speedup:g}, {rules.gpu_source})"
            )
    else:
        print("wall time: no model declared")
    return 0


def _cmd_run(args) -> int:
    from .runner import run_chapter

    if args.dry_run:
        return _cmd_dry_run(args)
    result = run_chapter(
        args.chapter,
        overrides=_overrides(args.param),
        preset=args.preset,
        device=args.device,
        out=args.out,
        book_dir=args.book_dir,
        runs_dir=args.runs_dir,
        force=args.force,
        progress=args.progress,
        log=_err,
    )
    if not result.ok:
        _err(
            f"error: {args.chapter} failed: {result.error}\n"
            f"the executed notebook with the traceback is kept at: {result.notebook}"
        )
        return 1
    figs = {p.name for p in result.figures}
    files = sorted(p.name for p in result.run_dir.iterdir() if p.is_file() and p.name not in figs)
    stems = sorted({Path(f).stem for f in figs})
    kinds = "/".join(sorted({Path(f).suffix[1:].upper() for f in figs}))
    print(f"ok: {args.chapter} ran in {result.seconds:.1f} s (hash {result.hash})")
    print(f"run folder: {result.run_dir}")
    print("  files:   " + "  ".join(files))
    if stems:
        print(f"  figures ({kinds}): " + "  ".join(stems))
    return 0


def _cmd_sweep(args) -> int:
    from .sweep import run_sweep

    res = run_sweep(
        args.chapter,
        args.grid,
        overrides=_overrides(args.param),
        preset=args.preset,
        device=args.device,
        jobs=args.jobs,
        cluster=args.cluster,
        address=args.address,
        out=args.out,
        fmt=args.format,
        plot=args.plot,
        book_dir=args.book_dir,
        runs_dir=args.runs_dir,
        force=args.force,
        log=_err,
    )
    print(
        f"sweep {args.chapter}: {len(res.points)} points "
        f"({len(res.ran)} run now, {len(res.skipped)} already done, {len(res.failed)} failed)"
    )
    print(f"table: {res.table}")
    if res.figure:
        print(f"figure: {res.figure}")
    if res.failed:
        _err("failed points (rerun the same command to retry them):")
        for p in res.failed:
            _err(f"  {p.hash}: {p.error}; notebook: {p.run_dir / (args.chapter + '.ipynb')}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m graphon`` and ``graphon-run``; returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
        # `graphon-run CHAPTER ...` is short for `graphon-run run CHAPTER ...`
        if _prog() == "graphon-run" and argv and argv[0] not in COMMANDS and argv[0][:1] != "-":
            argv = ["run", *argv]
    argv = list(argv)
    previous = _signals_as_interrupt()
    try:
        return _main(argv)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main(argv: list[str]) -> int:
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 2
    args = parser.parse_args(argv)
    sub = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    try:
        if args.command == "list":
            return _cmd_list(args)
        if args.help:
            sub[args.command].print_help()
            if args.chapter:
                print()
                print(chapter_help(args.chapter, args.book_dir, args.command))
            return 0
        if not args.chapter:
            chapters = ", ".join(_chapters(args.book_dir)) or "none"
            _err(f"{parser.prog} {args.command}: error: give a CHAPTER; chapters: {chapters}")
            return 2
        if args.command == "run":
            return _cmd_run(args)
        return _cmd_sweep(args)
    except ParameterError as exc:
        _err(f"{parser.prog} {args.command}: error: {exc}")
        return 2
    except KeyboardInterrupt as exc:
        from .runner import RunInterrupted

        how = f"stopped by {exc.name}" if isinstance(exc, RunInterrupted) else "interrupted"
        if args.command == "sweep":
            _err(f"{how}; finished points are kept: rerun the same command to resume")
        else:
            _err(f"{how}; the run folder is kept, marked 'interrupted' in its run.yaml")
        return 128 + (exc.signum if isinstance(exc, RunInterrupted) else signal.SIGINT)


def _signals_as_interrupt() -> dict:
    """Treat SIGTERM (a batch system stopping the job, a sweep stopping its points) and SIGHUP (a
    closed terminal) like Ctrl-C, so that the kernel is stopped and the run marked interrupted."""
    from .runner import RunInterrupted

    def handler(signum, frame):
        raise RunInterrupted(signum)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[signum] = signal.signal(signum, handler)
        except (ValueError, AttributeError):  # not in the main thread, or no SIGHUP: leave it
            pass
    return previous


def _chapters(book_dir) -> list[str]:
    from .runner import discover_chapters

    try:
        return list(discover_chapters(book_dir))
    except Exception:  # pragma: no cover - listing is only a hint here
        return []


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
