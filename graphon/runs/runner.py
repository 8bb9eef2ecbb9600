"""Rerun one chapter with new parameters: ``python -m graphon run CHAPTER -p NAME VALUE ...``.

A *chapter* is any ``<book_dir>/*.md`` with a jupytext header whose first code cell is tagged
``parameters`` (see ``CONTRIBUTING.md``). :func:`run_chapter`

1. reads the chapter's parameters cell (:mod:`graphon.runs.params`),
2. resolves the values: cell defaults, then a preset (``<book_dir>/presets/<chapter>-<preset>.yaml``
   or a path to a YAML file), then the ``-p`` overrides, then ``--device``,
3. checks everything **before** anything is written or the kernel starts: types and ranges, the
   rules of the chapter's declaration file ``<book_dir>/rules/<chapter>.yaml``
   (:mod:`graphon.runs.rules`: rules between parameters, list lengths), the device, and the
   memory the run will need against the free memory (unless ``force``); a problem raises
   :class:`~graphon.runs.params.ParameterError` and leaves nothing behind,
4. creates a new ``<runs_dir>/<chapter>/<YYYYmmdd-HHMMSS>-<hash>[-k]/`` with one atomic ``mkdir``
   (or uses ``out``, which must be new or empty), converts the chapter with jupytext and executes
   it with papermill (kernel ``python3``, working directory = the book folder, ``output_dir``
   pointed at the run folder),
5. keeps there: the executed notebook ``<chapter>.ipynb``, ``params.yaml`` (the full resolved
   parameters, reusable as ``--preset``), ``run.yaml`` (hash, code fingerprint, the parameters,
   status, timings, peak memory, how it was called), and whatever the chapter wrote into
   ``output_dir`` (``metrics.json``, figures as PNG and PDF).

Same parameters give the same hash (:func:`graphon.runs.params.params_hash`) and, since every
chapter seeds its random draws, the same numbers, as long as the code is the same: ``run.yaml``
records :func:`code_fingerprint` (chapter source, ``graphon`` version and sources) to tell. A cell
that raises, or a kernel that dies (killed by the system, most likely out of memory), leaves the
executed notebook in the run folder, ``run.yaml`` with ``status: failed`` and ``error.txt``. An
interrupt (Ctrl-C; SIGTERM and SIGHUP through the command line, :class:`RunInterrupted`) stops the
kernel and marks ``run.yaml`` ``status: interrupted``; nothing is ever deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import platform
import re
import shlex
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from .params import ParameterError, ParameterSpec, params_hash, parse_chapter, validate

__all__ = [
    "RunInterrupted",
    "RunResult",
    "check_device",
    "check_memory",
    "check_parameters",
    "make_run_dir",
    "plan_run",
    "code_fingerprint",
    "default_book_dir",
    "default_runs_dir",
    "discover_chapters",
    "find_chapter",
    "list_presets",
    "load_preset",
    "resolve_parameters",
    "run_chapter",
    "run_fingerprint",
    "run_is_complete",
]

KERNEL = "python3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BOOK_DIR_ENV = "GRAPHON_BOOK_DIR"
RUNS_DIR_ENV = "GRAPHON_RUNS_DIR"
PRESET_SUFFIXES = (".yaml", ".yml")


@dataclass
class RunResult:
    """What one run left behind.

    Attributes:
        chapter: chapter name (file stem).
        run_dir: the run folder.
        notebook: the executed notebook (``run_dir/<chapter>.ipynb``).
        parameters: the full resolved parameters (``output_dir`` = ``run_dir``).
        hash: :func:`~graphon.runs.params.params_hash` of the chapter and parameters.
        ok: True when every cell ran.
        error: ``"ExcName: message"`` of the failing cell, else ``None``.
        metrics: the chapter's ``metrics.json`` as a dict (``None`` if it wrote none).
        figures: PNG/PDF/SVG files in the run folder.
        seconds: wall time of the execution.
    """

    chapter: str
    run_dir: Path
    notebook: Path
    parameters: dict[str, Any]
    hash: str
    ok: bool
    error: str | None = None
    metrics: dict[str, Any] | None = None
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0


# --------------------------------------------------------------------------- discovery


def default_book_dir() -> Path:
    """``$GRAPHON_BOOK_DIR``, else the ``book/`` folder next to the package, else ``./book``."""
    env = os.environ.get(BOOK_DIR_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2] / "book"
    return here if here.is_dir() else Path("book")


def default_runs_dir() -> Path:
    """``$GRAPHON_RUNS_DIR``, else ``./runs``."""
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs")


def _has_jupytext_header(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not text.startswith("---"):
        return False
    end = text.find("\n---", 3)
    if end < 0:
        return False
    try:
        meta = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return False
    return isinstance(meta, dict) and "jupytext" in meta


def _first_code_cell_is_parameters(path: Path) -> bool:
    import jupytext

    nb = jupytext.read(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            return "parameters" in cell.metadata.get("tags", [])
    return False


def discover_chapters(book_dir: str | Path | None = None) -> dict[str, Path]:
    """Chapters of the book: name -> path, sorted by name.

    A chapter is a ``book_dir/*.md`` with a jupytext header whose first code cell is tagged
    ``parameters``.
    """
    book = Path(book_dir) if book_dir is not None else default_book_dir()
    found = {}
    for path in sorted(book.glob("*.md")):
        if _has_jupytext_header(path) and _first_code_cell_is_parameters(path):
            found[path.stem] = path
    return found


def find_chapter(chapter: str, book_dir: str | Path | None = None) -> Path:
    """Path of ``chapter``; raises :class:`ParameterError` listing the chapters when unknown."""
    book = Path(book_dir) if book_dir is not None else default_book_dir()
    chapters = discover_chapters(book)
    if chapter in chapters:
        return chapters[chapter]
    import difflib

    hint = difflib.get_close_matches(chapter, list(chapters), n=1)
    did = f"; did you mean {hint[0]!r}?" if hint else "."
    allowed = ", ".join(chapters) or f"none found in {book}"
    raise ParameterError(f"unknown chapter {chapter!r}{did} Chapters: {allowed}")


def list_presets(chapter: str, book_dir: str | Path | None = None) -> dict[str, Path]:
    """Presets of ``chapter``: name -> ``book_dir/presets/<chapter>-<name>.yaml``."""
    book = Path(book_dir) if book_dir is not None else default_book_dir()
    out = {}
    folder = book / "presets"
    for suffix in PRESET_SUFFIXES:
        for path in sorted(folder.glob(f"{chapter}-*{suffix}")):
            out.setdefault(path.name[len(chapter) + 1 : -len(suffix)], path)
    return dict(sorted(out.items()))


def load_preset(
    chapter: str, preset: str | Path, book_dir: str | Path | None = None
) -> tuple[dict[str, Any], Path]:
    """Read a preset by name (``presets/<chapter>-<name>.yaml``) or by path.

    The file is a mapping ``name: value``; a mapping with a ``parameters:`` key uses that key's
    mapping (other top-level keys are then descriptive and ignored). A run's own ``params.yaml``
    is a valid preset.

    Raises:
        ParameterError: unknown preset (naming the available ones) or a file that is not a mapping.
    """
    text = str(preset)
    path = Path(text)
    if not (path.suffix in PRESET_SUFFIXES or os.sep in text) or not path.is_file():
        presets = list_presets(chapter, book_dir)
        if text not in presets:
            if path.suffix in PRESET_SUFFIXES or os.sep in text:
                raise ParameterError(f"preset file {text!r} does not exist")
            avail = ", ".join(presets) or "none"
            raise ParameterError(
                f"unknown preset {text!r} for chapter {chapter!r}. Presets: {avail} "
                f"(or give a path to a YAML file)"
            )
        path = presets[text]
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParameterError(f"preset {str(path)!r} is not valid YAML: {exc}".splitlines()[0]) from None
    if isinstance(data, dict) and isinstance(data.get("parameters"), dict):
        data = data["parameters"]
    if not isinstance(data, dict):
        raise ParameterError(f"preset {str(path)!r} must be a mapping 'name: value'")
    return {str(k): v for k, v in data.items()}, path


def resolve_parameters(
    chapter: str,
    overrides: Mapping[str, Any] | None = None,
    preset: str | Path | None = None,
    device: str | None = None,
    book_dir: str | Path | None = None,
) -> tuple[Path, list[ParameterSpec], dict[str, Any]]:
    """Find the chapter and return ``(path, specs, values)`` after full validation.

    Order: cell defaults < preset < ``overrides`` < ``device``. ``output_dir`` may not be set
    here (the runner points it at the run folder).

    Raises:
        ParameterError: unknown chapter/preset/parameter, wrong type, out of range, bad choice.
    """
    path = find_chapter(chapter, book_dir)
    specs = parse_chapter(path)
    names = {s.name for s in specs}
    merged: dict[str, Any] = {}
    if preset is not None:
        values, preset_path = load_preset(chapter, preset, book_dir)
        try:
            validate(specs, values, chapter=chapter)
        except ParameterError as exc:
            raise ParameterError(f"preset {preset_path.name}: {exc}") from None
        merged.update(values)
    merged.update(overrides or {})
    if "output_dir" in (overrides or {}):
        raise ParameterError("output_dir is set by the runner; use --out DIR to choose the folder")
    if device is not None:
        if "device" not in names:
            raise ParameterError(f"chapter {chapter!r} has no 'device' parameter")
        merged["device"] = device
    merged.pop("output_dir", None)
    values = validate(specs, merged, chapter=chapter)
    return path, specs, values


# --------------------------------------------------------------------------- checks before a run


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by a signal (SIGTERM from a batch system, SIGHUP from a closed terminal)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        import signal

        return signal.Signals(self.signum).name


def chapter_rules(chapter: str, book_dir: str | Path, specs: list[ParameterSpec]):
    """The chapter's declarations (:func:`graphon.runs.rules.load_rules`); a broken declaration
    file is a :class:`ParameterError` (exit status 2), naming the file and the problem."""
    from .rules import RulesError, load_rules

    try:
        return load_rules(chapter, book_dir, [s.name for s in specs])
    except RulesError as exc:
        raise ParameterError(str(exc)) from None


def check_device(values: Mapping[str, Any]) -> None:
    """Refuse ``device: cuda`` (or ``cuda:K``) where torch sees no such GPU.

    Raises:
        ParameterError: naming the parameter and what to use instead.
    """
    dev = values.get("device")
    if not isinstance(dev, str) or not dev.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise ParameterError(
            f"parameter 'device' = {dev!r}, but torch sees no GPU on this machine "
            "(torch.cuda.is_available() is False); use --device cpu or --device auto"
        )
    index = dev.partition(":")[2]
    if index and int(index) >= torch.cuda.device_count():
        raise ParameterError(
            f"parameter 'device' = {dev!r}: this machine has GPUs cuda:0..cuda:{torch.cuda.device_count() - 1}"
        )


def _run_device(values: Mapping[str, Any]) -> str:
    dev = str(values.get("device", "cpu"))
    if dev == "auto":
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:  # pragma: no cover
            return "cpu"
    return dev


def check_memory(rules, values: Mapping[str, Any], *, force: bool = False) -> float | None:
    """Refuse a run whose estimated peak memory (the chapter's ``memory`` model) exceeds the free
    memory of the machine (or of the GPU when it runs on one), unless ``force``.

    Returns:
        the estimate in bytes (``None`` when the chapter declares no model).

    Raises:
        ParameterError: saying how much it needs, how much is free and which parameters to lower.
    """
    from .rules import estimate, free_memory_bytes, gib

    need = estimate(rules, values).memory_bytes
    if need is None or force:
        return need
    device = _run_device(values)
    free = free_memory_bytes(device)
    if free is not None and need > free:
        lower = " or ".join(rules.memory_lower) or "the sizes"
        where = "GPU memory" if device.startswith("cuda") else "memory"
        raise ParameterError(
            f"this run needs about {gib(need)} of {where} and {gib(free)} is free: lower {lower} "
            f"(or add --force to try anyway); the estimate is {rules.memory.text} bytes"
        )
    return need


def check_parameters(
    chapter: str, book_dir: str | Path, specs: list[ParameterSpec], values: Mapping[str, Any],
    *, force: bool = False,
):
    """Everything checked before a run starts, on a full parameter set: the chapter's declared
    rules, the device, the memory estimate. Returns the chapter's rules.

    Raises:
        ParameterError: one line naming the parameter.
    """
    from .rules import check_rules

    rules = chapter_rules(chapter, book_dir, specs)
    check_rules(rules, values)
    check_device(values)
    check_memory(rules, values, force=force)
    return rules


# --------------------------------------------------------------------------- running


def make_run_dir(runs_dir: str | Path, chapter: str, digest: str) -> Path:
    """Create a new, unique run folder ``<runs_dir>/<chapter>/<YYYYmmdd-HHMMSS>-<hash>[-k]/``.

    The folder is made with one ``mkdir`` (atomic): two runs started at the same second by any
    number of processes each get their own folder (the second one gets ``-2``, and so on).

    Raises:
        ParameterError: when the folder cannot be created (an unwritable or invalid ``runs_dir``).
    """
    parent = Path(runs_dir) / chapter
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for k in itertools.count(1):
            path = parent / (f"{stamp}-{digest}" if k == 1 else f"{stamp}-{digest}-{k}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
    except OSError as exc:
        raise ParameterError(
            f"--runs-dir {str(runs_dir)!r}: cannot create a run folder there ({exc.strerror or exc})"
        ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _claim_out_dir(out: Path, overwrite: bool) -> bool:
    """Make ``out`` ready for a run; return True when this call created it.

    Raises:
        ParameterError: ``out`` is a file, holds files (unless ``overwrite``) or cannot be created.
    """
    try:
        try:
            out.mkdir(parents=True)
            return True
        except FileExistsError:
            pass
        if not out.is_dir():
            raise ParameterError(f"--out {str(out)!r} exists and is not a folder")
        if any(out.iterdir()):
            if not overwrite:
                raise ParameterError(f"--out {str(out)!r} already holds files; choose a new folder")
            shutil.rmtree(out)
            out.mkdir()
            return True
        probe = out / ".graphon-write-test"
        probe.touch()
        probe.unlink()
        return False
    except ParameterError:
        raise
    except OSError as exc:
        raise ParameterError(
            f"--out {str(out)!r}: cannot write there ({exc.strerror or exc})"
        ) from None


@contextlib.contextmanager
def _kernel_env():
    """Let the kernel draw figures inline: a non-interactive MPLBACKEND must not reach it; and keep
    nbclient's own log line about a dead kernel out of the output (the runner says it better)."""
    import logging

    saved = os.environ.pop("MPLBACKEND", None)
    logger = logging.getLogger("papermill")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
        if saved is not None:
            os.environ["MPLBACKEND"] = saved


def _stop_kernel(km) -> int | None:
    """Stop the kernel process at once (after the last cell it has nothing left to do; after an
    interrupt its event loop was abandoned) and return its exit status (``-9``: killed)."""
    proc = getattr(getattr(km, "provisioner", None), "process", None)
    code = None
    if proc is not None:
        with contextlib.suppress(Exception):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        code = proc.returncode
    with contextlib.suppress(Exception):
        km.cleanup_connection_file()
    with contextlib.suppress(Exception):
        km.provisioner = None
    return code


def _dead_kernel_message(code: int | None, rules, values: Mapping[str, Any]) -> str:
    import signal

    from .rules import estimate, gib

    how = "it exited"
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            how = f"it was killed by {signal.Signals(-code).name}"
    elif code is not None:
        how = f"it exited with status {code}"
    est = estimate(rules, values).memory_bytes if rules is not None else None
    sizes = ", ".join(f"{n} = {values[n]}" for n in (rules.memory_lower if rules else ()) if n in values)
    size_txt = f"; the size is set by {sizes}" if sizes else ""
    est_txt = f" (estimated need {gib(est)})" if est is not None else ""
    return (
        f"DeadKernelError: the kernel died while running a cell ({how}): most likely out of "
        f"memory{est_txt}{size_txt}; lower them, or use a machine with more memory"
    )


def _write_yaml(path: Path, data: Any, header: str = "") -> None:
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
    path.write_text(header + text)


def code_fingerprint(chapter_path: str | Path) -> str:
    """Fingerprint of the code a run executes: the SHA-256 (first 16 hex digits) of the chapter's
    source file, ``graphon.__version__`` and every ``.py`` file of the ``graphon`` package (names
    and contents). Same fingerprint and same parameter hash: same numbers; a changed chapter or
    package gives a new fingerprint, so a sweep reruns its points instead of reusing them."""
    from .. import __version__

    h = hashlib.sha256()
    h.update(b"chapter\0" + Path(chapter_path).read_bytes() + b"\0")
    h.update(f"graphon {__version__}\0".encode())
    pkg = Path(__file__).resolve().parents[1]  # the whole graphon package
    for src in sorted(pkg.rglob("*.py")):
        h.update(src.relative_to(pkg).as_posix().encode() + b"\0" + src.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _read_run_yaml(run_dir: Path) -> dict[str, Any]:
    try:
        info = yaml.safe_load((run_dir / "run.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return info if isinstance(info, dict) else {}


def run_fingerprint(run_dir: str | Path) -> str | None:
    """The ``code_fingerprint`` recorded in ``run_dir/run.yaml`` (``None`` if there is none)."""
    return _read_run_yaml(Path(run_dir)).get("code_fingerprint")


def run_is_complete(run_dir: str | Path, fingerprint: str | None = None) -> bool:
    """True when ``run_dir`` holds a finished, successful run (``run.yaml`` status ok + metrics)
    and, when ``fingerprint`` is given, that run recorded this :func:`code_fingerprint`."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.yaml").is_file() or not (run_dir / "metrics.json").is_file():
        return False
    info = _read_run_yaml(run_dir)
    if info.get("status") != "ok":
        return False
    return fingerprint is None or info.get("code_fingerprint") == fingerprint


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and Path(argv[0]).name == "__main__.py" and Path(argv[0]).parent.name == "graphon":
        argv[0] = "python -m graphon"
    return " ".join(shlex.quote(a) if i else a for i, a in enumerate(argv))


def _figures(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.rglob("*") if p.suffix.lower() in (".png", ".pdf", ".svg"))


def run_chapter(
    chapter: str,
    overrides: Mapping[str, Any] | None = None,
    preset: str | Path | None = None,
    device: str | None = None,
    out: str | Path | None = None,
    book_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    *,
    overwrite: bool = False,
    force: bool = False,
    progress: bool = False,
    log=None,
) -> RunResult:
    """Execute ``chapter`` with new parameters and keep everything in one run folder.

    Args:
        chapter: chapter name (``book_dir/<chapter>.md``).
        overrides: name -> value (strings as typed on the command line, or typed values).
        preset: preset name (``book_dir/presets/<chapter>-<preset>.yaml``) or YAML path.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``; sets the chapter's ``device`` parameter.
        out: the run folder; default a new ``runs_dir/<chapter>/<YYYYmmdd-HHMMSS>-<hash>/``. It must
            not exist or be empty, unless ``overwrite`` (then an existing folder is replaced).
        book_dir: folder of the chapters (default :func:`default_book_dir`); the kernel runs there.
        runs_dir: root of run folders (default :func:`default_runs_dir`).
        force: run even when the chapter's memory estimate exceeds the free memory.
        progress: show papermill's cell progress bar.
        log: optional callable receiving one-line progress messages.

    Returns:
        :class:`RunResult`; ``ok`` is False when a cell raised or the kernel died (the notebook, up
        to the failing cell, is ``result.notebook``; ``run.yaml`` says ``status: failed``).

    Raises:
        ParameterError: before anything is written, for any bad chapter, preset or value, a broken
            rule of the chapter's declaration file, ``cuda`` without a GPU, a run that does not fit
            in memory (unless ``force``), or an ``out``/``runs_dir`` that cannot be written.
        KeyboardInterrupt: (or :class:`RunInterrupted`) after stopping the kernel and marking
            ``run.yaml`` ``status: interrupted``; nothing is deleted.
    """
    book = Path(book_dir) if book_dir is not None else default_book_dir()
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    path, specs, values = resolve_parameters(chapter, overrides, preset, device, book)
    rules = check_parameters(chapter, book, specs, values, force=force)
    digest = params_hash(chapter, values)

    import jupytext
    import papermill as pm
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    nb = jupytext.read(path)  # read before creating the folder: a broken file writes nothing
    if out is not None:
        run_dir = Path(out)
        created = _claim_out_dir(run_dir, overwrite)
    else:
        run_dir = make_run_dir(runs, chapter, digest)
        created = True
    run_dir = run_dir.resolve()
    values = {**values, "output_dir": str(run_dir)}
    notebook = run_dir / f"{chapter}.ipynb"
    public = {k: v for k, v in values.items() if k != "output_dir"}
    from .. import __version__

    meta: dict[str, Any] = {
        "chapter": chapter,
        "hash": digest,
        "status": "running",
        "pid": os.getpid(),
        "code_fingerprint": code_fingerprint(path),
        "graphon_version": __version__,
        "preset": None if preset is None else str(preset),
        "overrides": {k: v for k, v in (overrides or {}).items()},
        "device": device,
        "parameters": public,
        "chapter_file": str(path.resolve()),
        "notebook": notebook.name,
        "folder_created_by_run": created,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "host": platform.node(),
        "command": _command_line(),
    }
    km = None
    t0 = time.perf_counter()
    try:
        _write_yaml(
            run_dir / "params.yaml",
            public,
            header=(
                f"# {chapter} parameters, hash {digest}. Rerun with:\n"
                f"#   python -m graphon run {chapter} --preset {run_dir / 'params.yaml'}\n"
            ),
        )
        _write_yaml(run_dir / "run.yaml", meta)
        if log:
            log(f"running {chapter} (hash {digest}) in {run_dir}")

        ok, error = True, None
        # ours, so that an interrupt can stop the kernel; the async manager, so that nbclient
        # notices a dead kernel (with the blocking one it waits for ever)
        km = AsyncKernelManager(kernel_name=KERNEL)
        try:
            with _kernel_env():
                pm.execute_notebook(
                    nb,
                    str(notebook),
                    parameters=values,
                    kernel_name=KERNEL,
                    cwd=str(book.resolve()),
                    progress_bar=progress,
                    report_mode=False,
                    start_timeout=300,  # a loaded machine can take more than the default 60 s
                    km=km,
                    # ipykernel 7 warns on every start that it talks over local TCP: not news here
                    extra_arguments=["--IPKernelApp.log_level=ERROR"],
                )
        except PapermillExecutionError as exc:
            ok = False
            error = f"{exc.ename}: {exc.evalue}"
            cell = f"cell {exc.exec_count}" if exc.exec_count is not None else "a cell"
            (run_dir / "error.txt").write_text(
                f"{error}\n\nraised in {cell} of {notebook.name}; the traceback is in that notebook.\n"
                + "".join(f"{_ANSI.sub('', line)}\n" for line in (exc.traceback or []))
            )
        except DeadKernelError:
            ok = False
            code = _stop_kernel(km)
            error = _dead_kernel_message(code, rules, public)
            meta["kernel_exit"] = code
            (run_dir / "error.txt").write_text(
                f"{error}\n\n{notebook.name} holds every cell up to the one that was running.\n"
            )
        _stop_kernel(km)
    except BaseException as exc:
        # Ctrl-C, SIGTERM, SIGHUP, a disk error: stop the kernel at once (its event loop was
        # abandoned), and say so in run.yaml. Nothing is deleted: the folder may be the user's,
        # and the notebook so far shows where it stopped.
        if km is not None:
            _stop_kernel(km)
        interrupted = isinstance(exc, KeyboardInterrupt)
        meta.update(
            status="interrupted" if interrupted else "failed",
            error=(
                f"interrupted by {exc.name}" if isinstance(exc, RunInterrupted)
                else "interrupted (KeyboardInterrupt)" if interrupted
                else f"{type(exc).__name__}: {exc}"
            ),
            finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            seconds=round(time.perf_counter() - t0, 3),
        )
        with contextlib.suppress(Exception):
            _write_yaml(run_dir / "run.yaml", meta)
        raise
    seconds = time.perf_counter() - t0

    metrics = None
    mpath = run_dir / "metrics.json"
    if mpath.is_file():
        import json

        try:
            metrics = json.loads(mpath.read_text())
        except ValueError:
            metrics = None
    meta.update(
        status="ok" if ok else "failed",
        error=error,
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seconds=round(seconds, 3),
        peak_rss_mb=_peak_child_rss_mb(),
    )
    _write_yaml(run_dir / "run.yaml", meta)
    return RunResult(
        chapter=chapter,
        run_dir=run_dir,
        notebook=notebook,
        parameters=values,
        hash=digest,
        ok=ok,
        error=error,
        metrics=metrics,
        figures=_figures(run_dir),
        seconds=seconds,
    )


def _peak_child_rss_mb() -> float | None:
    """Largest resident memory of any finished child process of this one (the kernel, for a
    command-line run), in MiB; Linux reports KiB."""
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    except (ImportError, OSError):  # pragma: no cover - not POSIX
        return None


def plan_run(
    chapter: str,
    overrides: Mapping[str, Any] | None = None,
    preset: str | Path | None = None,
    device: str | None = None,
    book_dir: str | Path | None = None,
) -> dict[str, Any]:
    """What ``run --dry-run`` prints: the resolved parameters, the rules checked, and the predicted
    peak memory and wall time (this CPU, and one GPU) from the chapter's declaration file. Runs
    nothing, writes nothing; the memory check is reported, not enforced.

    Raises:
        ParameterError: as :func:`run_chapter` (except the memory check).
    """
    from .rules import estimate, free_memory_bytes

    book = Path(book_dir) if book_dir is not None else default_book_dir()
    path, specs, values = resolve_parameters(chapter, overrides, preset, device, book)
    rules = check_parameters(chapter, book, specs, values, force=True)
    est = estimate(rules, values)
    return {
        "chapter": chapter,
        "hash": params_hash(chapter, values),
        "parameters": {k: v for k, v in values.items() if k != "output_dir"},
        "rules": rules,
        "estimate": est,
        "free_memory": free_memory_bytes(_run_device(values)),
        "device": _run_device(values),
    }
