"""Offer every chapter of the book as a downloadable ``.ipynb``: a small Sphinx extension.

Why it is needed
----------------
The chapters are MyST-markdown notebooks (``book/*.md``, jupytext ``md:myst``). In Jupyter Book 1.0.4,
sphinx-book-theme 1.3.0 adds an ``.ipynb`` entry to the page's download menu (the "download" button at the
top of each page) *only* when a launch provider (Binder, JupyterHub, Colab, JupyterLite or Thebe) is set in
``launch_buttons``. Without one, the menu offers only the ``.md`` source and "print to PDF". A launch
provider would also put buttons on the page that point to remote services, which the offline book must not
have.

What this extension does
------------------------
For each page that is a notebook, on Sphinx's ``html-page-context`` event and before the theme builds its
header buttons, it copies the notebook that MyST-NB executed during the build
(``_build/jupyter_execute/<page>.ipynb``, outputs and figures included) to
``_build/html/_sources/<page>.ipynb``. It also sets the theme's ``ipynb_source`` context variable, so the
download menu of that page gets an ``.ipynb`` entry (the theme's own "Download notebook file" button). This
is the same thing the theme does when a launch provider is configured, but no launch button is added.

Students who want the notebook without outputs can open the ``.md`` download with jupytext
(``jupytext --to ipynb convergence.md``).

Loaded from ``_config.yml``::

    sphinx:
      local_extensions:
        export_notebooks: scripts

As a command (``python scripts/export_notebooks.py _build/html``) it checks an existing build: it lists
each chapter's ``.ipynb`` and fails when one is missing or is not a valid notebook.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

__all__ = ["setup", "main", "write_download"]

_EXECUTED_FOLDER = "jupyter_execute"  # myst_nb.sphinx_ext.OUTPUT_FOLDER


def _is_notebook(app, pagename: str) -> bool:
    """True when the page was read as a Jupyter notebook (it has a kernelspec in its metadata)."""
    metadata = app.env.metadata.get(pagename, {})
    return "kernelspec" in metadata


def _add_ipynb_download(app, pagename, templatename, context, doctree) -> None:
    if doctree is None or not _is_notebook(app, pagename):
        return
    if context.get("ipynb_source"):
        return  # the theme (or a launch provider) already offers it
    executed = Path(app.outdir).parent / _EXECUTED_FOLDER / f"{pagename}.ipynb"
    source_ipynb = Path(app.srcdir) / f"{pagename}.ipynb"
    notebook = executed if executed.is_file() else source_ipynb
    if not notebook.is_file():
        # Not executed (e.g. execute_notebooks: off) and no .ipynb source: nothing to offer.
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_download(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def write_download(notebook: Path, target: Path) -> None:
    """Copy ``notebook`` to ``target`` without the build-only metadata.

    Drops the notebook-level ``jupytext`` block (a downloaded ``.ipynb`` is not paired with a ``.md``, and the
    pairing would make Jupyter's jupytext plug-in write a ``.md`` next to it on save) and MyST-NB's
    ``source_map``. Cells, tags (the ``parameters`` tag included) and outputs are kept.
    """
    try:
        nb = json.loads(notebook.read_text(encoding="utf8"))
    except ValueError:
        shutil.copy2(notebook, target)
        return
    metadata = nb.get("metadata", {})
    metadata.pop("jupytext", None)
    metadata.pop("source_map", None)
    target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf8")


def setup(app):
    """Sphinx entry point. Runs before sphinx-book-theme's ``add_header_buttons`` (priority 501)."""
    app.connect("html-page-context", _add_ipynb_download, priority=400)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


def _chapters_from_toc(root: Path) -> list[str]:
    """Docnames of the pages listed in ``_toc.yml`` whose source is a notebook (has a kernelspec)."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf8"))
    files: list[str] = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    chapters = []
    for name in files:
        source = root / f"{name}.md"
        if source.is_file():
            head = source.read_text(encoding="utf8")[:2000]
            if head.startswith("---") and "kernelspec:" in head.split("\n---", 1)[0]:
                chapters.append(name)
    return chapters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, nargs="?", default=Path("_build/html"),
                        help="the built site (default _build/html)")
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (holds _toc.yml)")
    args = parser.parse_args(argv)
    problems = []
    for name in _chapters_from_toc(args.root):
        path = args.html / "_sources" / f"{name}.ipynb"
        if not path.is_file():
            problems.append(f"{path}: missing (is scripts/export_notebooks.py in local_extensions?)")
            continue
        try:
            nb = json.loads(path.read_text(encoding="utf8"))
            assert nb.get("nbformat") == 4 and isinstance(nb.get("cells"), list)
        except (ValueError, AssertionError):
            problems.append(f"{path}: not a valid nbformat-4 notebook")
            continue
        print(f"ok  {path}  ({len(nb['cells'])} cells)")
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
