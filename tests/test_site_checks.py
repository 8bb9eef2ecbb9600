"""Unit tests of scripts/check_site.py on a tiny fake built site (no Sphinx build needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]


cs = load_script("check_site")

TOC = """\
format: jb-book
root: book/intro
parts:
  - caption: Results
    chapters:
      - file: book/convergence
        sections:
          - file: book/convergence_extra
      - file: book/expressivity.md
      - file: book/generalisation
  - caption: Other
    chapters:
      - url: https://example.org
        title: an external link
      - file: book/references
"""

PAGE = """<!DOCTYPE html>
<html><head>
<link rel="stylesheet" href="../_static/styles/theme.css" />
<script src="../_static/doctools.js"></script>
<script defer="defer" src="../_static/mathjax/tex-mml-chtml.js"></script>
{head}
</head><body>
<p>Text with a <a href="https://doi.org/10.1000/xyz">DOI link</a>.</p>
{body}
</body></html>
"""

FIGURE = """
<div class="cell tag_hide-input docutils container">
<div class="cell_output docutils container">
<figure class="align-default" id="fig-x">
<img alt="_images/abc.png" src="../_images/abc.png" />
<figcaption><p><span class="caption-number">Fig. 1 </span>Caption.</p></figcaption>
</figure>
</div></div>
"""


def make_site(tmp_path: Path, chapter_body: str = FIGURE, head: str = "") -> tuple[Path, Path]:
    html = tmp_path / "_build" / "html"
    (html / "book").mkdir(parents=True)
    (html / "_images").mkdir()
    (html / "_images" / "abc.png").write_bytes(b"\x89PNG fake")
    (html / "_static" / "mathjax").mkdir(parents=True)
    (html / "_static" / "mathjax" / "tex-mml-chtml.js").write_text("// mathjax")
    (html / "_static" / "mathjax" / "input" / "tex" / "extensions").mkdir(parents=True)
    (html / "_static" / "mathjax" / "input" / "tex" / "extensions" / "boldsymbol.js").write_text("//")
    (html / "_static" / "doctools.js").write_text("// doctools")
    (html / "_static" / "styles").mkdir(parents=True)
    (html / "_static" / "styles" / "theme.css").write_text("body { background: url(../img/x.png); }")
    (html / "_sources" / "book").mkdir(parents=True)
    for page in ("intro", "convergence_extra", "references"):
        (html / "book" / f"{page}.html").write_text(PAGE.format(head=head, body="<p>Plain page.</p>"))
    for page in ("convergence", "expressivity", "generalisation"):
        (html / "book" / f"{page}.html").write_text(PAGE.format(head=head, body=chapter_body))
        (html / "_sources" / "book" / f"{page}.ipynb").write_text('{"nbformat": 4, "cells": []}')
    toc = tmp_path / "_toc.yml"
    toc.write_text(TOC)
    return html, toc


def run(html: Path, toc: Path, *extra: str) -> int:
    return cs.main([str(html), "--toc", str(toc), *extra])


def test_toc_pages_walks_parts_and_sections(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text(TOC)
    assert cs.toc_pages(toc) == ["book/intro", "book/convergence", "book/convergence_extra",
                                 "book/expressivity", "book/generalisation", "book/references"]


@pytest.mark.parametrize("url, remote", [
    ("https://cdn.jsdelivr.net/x.js", True), ("http://a.b/c", True), ("//unpkg.com/x", True),
    ("../_static/x.js", False), ("_images/a.png", False), ("data:image/png;base64,AA", False),
    ("file:///tmp/x", False), ("#anchor", False),
])
def test_is_remote(url, remote):
    assert cs.is_remote(url) is remote


def test_good_site_passes(tmp_path, capsys):
    html, toc = make_site(tmp_path)
    assert run(html, toc) == 0
    out = capsys.readouterr().out
    assert "book/convergence: 1 figure image(s)" in out and "1 in numbered figures" in out
    assert "OK" in out


def test_toc_is_found_next_to_the_build_by_default(tmp_path, monkeypatch):
    html, _ = make_site(tmp_path)
    monkeypatch.chdir(tmp_path / "_build")  # no _toc.yml in the cwd
    assert cs.main([str(html)]) == 0


def test_missing_toc_page_fails(tmp_path, capsys):
    html, toc = make_site(tmp_path)
    (html / "book" / "convergence_extra.html").unlink()
    assert run(html, toc) == 1
    err = capsys.readouterr().err
    assert "book/convergence_extra: listed in _toc.yml" in err


def test_chapter_without_figure_fails(tmp_path, capsys):
    html, toc = make_site(tmp_path, chapter_body="<div class='cell_output docutils container'><pre>1</pre></div>")
    assert run(html, toc) == 1
    err = capsys.readouterr().err
    assert "book/convergence: 0 figure image(s)" in err and "MPLBACKEND" in err


def test_image_outside_cell_output_does_not_count(tmp_path, capsys):
    html, toc = make_site(tmp_path, chapter_body='<img src="../_images/abc.png" />')
    assert run(html, toc) == 1
    assert "0 figure image(s)" in capsys.readouterr().err


def test_min_figures_and_chapter_selection(tmp_path):
    html, toc = make_site(tmp_path)
    assert run(html, toc, "--min-figures", "2") == 1
    assert run(html, toc, "--min-figures", "2", "--chapters") == 0  # no chapter to check


def test_missing_image_file_fails(tmp_path, capsys):
    html, toc = make_site(tmp_path)
    (html / "_images" / "abc.png").unlink()
    assert run(html, toc) == 1
    assert "image ../_images/abc.png is missing or empty" in capsys.readouterr().err


def test_traceback_output_fails(tmp_path, capsys):
    body = FIGURE + '<div class="cell_output docutils container"><div class="output traceback highlight-ipythontb notranslate"><pre>Error</pre></div></div>'
    html, toc = make_site(tmp_path, chapter_body=body)
    assert run(html, toc) == 1
    assert "error output" in capsys.readouterr().err


@pytest.mark.parametrize("head, message", [
    ('<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>',
     "loads a resource from another host"),
    ('<link rel="stylesheet" href="https://fonts.example.org/font.css" />', "loads a resource from another host"),
    ('<link rel="preload" as="font" href="//fonts.example.org/f.woff2" />', "loads a resource from another host"),
    ('<script>const THEBE_JS_URL = "https://unpkg.com/thebe@0.8.2/lib/index.js"</script>',
     "mentions the CDN host 'unpkg.com'"),
    ('<img src="https://example.org/logo.png" />', "loads a resource from another host"),
    ('<iframe src="https://example.org/embed"></iframe>', "loads a resource from another host"),
])
def test_remote_resources_fail(tmp_path, capsys, head, message):
    html, toc = make_site(tmp_path, head=head)
    assert run(html, toc) == 1
    assert message in capsys.readouterr().err


def test_external_links_are_allowed(tmp_path):
    html, toc = make_site(tmp_path, head='<link rel="canonical" href="https://example.org/book/" />')
    assert run(html, toc) == 0


def test_remote_css_import_fails(tmp_path, capsys):
    html, toc = make_site(tmp_path)
    (html / "_static" / "styles" / "fonts.css").write_text(
        "@import url('https://fonts.googleapis.com/css?family=Lato');")
    assert run(html, toc) == 1
    assert "CSS loads from another host" in capsys.readouterr().err


def test_missing_local_mathjax_fails(tmp_path, capsys):
    html, toc = make_site(tmp_path)
    (html / "_static" / "mathjax" / "tex-mml-chtml.js").unlink()
    assert run(html, toc) == 1
    assert "make mathjax" in capsys.readouterr().err


def test_missing_notebook_download_fails_unless_disabled(tmp_path, capsys):
    html, toc = make_site(tmp_path)
    (html / "_sources" / "book" / "expressivity.ipynb").unlink()
    assert run(html, toc) == 1
    assert "no notebook download" in capsys.readouterr().err
    assert run(html, toc, "--no-ipynb") == 0


def test_missing_build_folder(tmp_path, capsys):
    toc = tmp_path / "_toc.yml"
    toc.write_text(TOC)
    assert run(tmp_path / "nope", toc) == 1
    assert "make book" in capsys.readouterr().err


def test_mathjax_without_its_tex_extensions_fails(tmp_path, capsys):
    import shutil

    html, toc = make_site(tmp_path)
    shutil.rmtree(html / "_static" / "mathjax" / "input")
    assert run(html, toc) == 1
    assert "TeX extensions" in capsys.readouterr().err


# --- scripts/export_notebooks.py: the Sphinx hook that puts the .ipynb in each chapter's download menu ---

class _Env:
    def __init__(self, metadata):
        self.metadata = metadata


class _App:
    def __init__(self, root: Path, metadata):
        self.outdir = str(root / "_build" / "html")
        self.srcdir = str(root)
        self.env = _Env(metadata)


def test_export_notebooks_hook(tmp_path):
    import json

    ex = load_script("export_notebooks")
    executed = tmp_path / "_build" / "jupyter_execute" / "book"
    executed.mkdir(parents=True)
    nb = {"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": "x = 1",
          "metadata": {"tags": ["parameters"]}, "outputs": [], "execution_count": 1}],
          "metadata": {"jupytext": {"formats": "md:myst"}, "source_map": [1], "kernelspec": {"name": "python3"}}}
    (executed / "ch.ipynb").write_text(json.dumps(nb))
    app = _App(tmp_path, {"book/ch": {"kernelspec": {"name": "python3"}}, "book/intro": {}})

    context = {}
    ex._add_ipynb_download(app, "book/ch", "page.html", context, doctree=object())
    assert context["ipynb_source"] == "book/ch.ipynb"
    written = json.loads((tmp_path / "_build" / "html" / "_sources" / "book" / "ch.ipynb").read_text())
    assert "jupytext" not in written["metadata"] and "source_map" not in written["metadata"]
    assert written["metadata"]["kernelspec"] == {"name": "python3"}
    assert written["cells"][0]["metadata"]["tags"] == ["parameters"]

    context = {}  # a page that is not a notebook gets nothing
    ex._add_ipynb_download(app, "book/intro", "page.html", context, doctree=object())
    assert "ipynb_source" not in context


# --- 6.-8.: publishable as it is, no stderr, indices with content ---

ROOT_PAGE = PAGE.replace("../", "")  # a page at the top of the site (genindex.html, prf-prf.html)

@pytest.mark.parametrize("body, message", [
    ('<a href="/book/intro.html">root-absolute</a>', "absolute address '/book/intro.html'"),
    ('<img src="file:///home/me/_build/html/_images/abc.png" />', "absolute address"),
    ('<a href="../genindex.html">Index</a>', "links to '../genindex.html', which is not in the site"),
    ('<a href="missing.html#x">gone</a>', "which is not in the site"),
    ('<pre>/usr/lib/python3/site-packages/tqdm/auto.py:21: TqdmWarning</pre>', "contains the local path"),
    ('<div class="output stderr highlight-myst-ansi notranslate"><pre>warn</pre></div>', "stderr output"),
])
def test_unpublishable_pages_fail(tmp_path, capsys, body, message):
    html, toc = make_site(tmp_path)
    page = html / "book" / "intro.html"
    page.write_text(PAGE.format(head="", body=body))
    assert run(html, toc) == 1
    assert message in capsys.readouterr().err


def test_page_with_the_build_folder_path_fails(tmp_path, capsys):
    html, toc = make_site(tmp_path)
    leaked = f"<pre>{tmp_path}/book/convergence.md:12: UserWarning</pre>"
    (html / "book" / "intro.html").write_text(PAGE.format(head="", body=leaked))
    assert run(html, toc) == 1
    assert "contains the local path" in capsys.readouterr().err


def test_relative_links_anchors_and_mail_pass(tmp_path):
    html, toc = make_site(tmp_path)
    body = ('<a href="references.html#id3">ref</a> <a href="#top">top</a> <a href="mailto:a@b.c">mail</a> '
            '<a href="../_images/abc.png">image</a> <a href="https://mybinder.org/v2/gh/o/r/main">Binder</a>')
    (html / "book" / "intro.html").write_text(PAGE.format(head="", body=body))
    assert run(html, toc) == 0


def test_empty_genindex_fails(tmp_path, capsys):
    html, toc = make_site(tmp_path)
    (html / "genindex.html").write_text(ROOT_PAGE.format(head="", body="<h1>Index</h1>"))
    assert run(html, toc) == 1
    assert "general index is empty" in capsys.readouterr().err
    (html / "genindex.html").write_text(ROOT_PAGE.format(head="", body='<table class="indextable genindextable">'
                                                                   "<tr><td>x</td></tr></table>"))
    assert run(html, toc) == 0


def test_proof_index_with_raw_labels_fails(tmp_path, capsys):
    html, toc = make_site(tmp_path)
    entry = '<tr><td><a href="book/intro.html#{a}"><code class="xref">{t}</code></a></td></tr>'
    raw = ROOT_PAGE.format(head="", body="<table class='modindextable'>" + entry.format(a="def-fsm", t="def-fsm")
                      + "</table>")
    (html / "prf-prf.html").write_text(raw)
    assert run(html, toc) == 1
    assert "raw label 'def-fsm'" in capsys.readouterr().err
    titled = raw.replace(">def-fsm</code>", ">Definition 2.2 Factorised Saliency Model</code>")
    (html / "prf-prf.html").write_text(titled)
    assert run(html, toc) == 0


# --- Publishing: `make publish` (ghp-import) and .github/workflows/pages.yml push exactly _build/html ---

def _publish_command(tmp_path: Path) -> str:
    """The shell line `make publish` runs (make -n, prerequisites not remade), with --push removed."""
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    out = subprocess.run(["make", "-s", "-n", "-o", "venv", "-o", "check-site", "publish", f"BIN={bin_dir}"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip().splitlines()
    lines = [line for line in out if "ghp-import" in line]
    assert len(lines) == 1, out
    assert "--push" in lines[0] and lines[0].rstrip().endswith(" _build/html")
    return lines[0].replace("--push", "")


def test_make_publish_commits_exactly_the_built_site(tmp_path):
    """Run the Makefile's own ghp-import line (without the push) in a scratch repository holding a built
    site: the gh-pages branch is exactly _build/html plus .nojekyll, byte for byte."""
    import shutil
    import subprocess
    import sys

    if not (Path(sys.executable).parent / "ghp-import").exists() or shutil.which("make") is None:
        pytest.skip("ghp-import (the book extra) or make is not installed")
    repo = tmp_path / "repo"
    html, _ = make_site(repo)
    (repo / "README.md").write_text("source, not published\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "README.md"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "source"], cwd=repo, check=True)
    env = {**__import__("os").environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    subprocess.run(_publish_command(tmp_path), shell=True, cwd=repo, check=True, env=env)
    listed = subprocess.run(["git", "ls-tree", "-r", "--name-only", "gh-pages"], cwd=repo, check=True,
                            capture_output=True, text=True).stdout.split()
    built = sorted(p.relative_to(html).as_posix() for p in html.rglob("*") if p.is_file())
    assert sorted(listed) == sorted([*built, ".nojekyll"])
    for rel in built:
        blob = subprocess.run(["git", "show", f"gh-pages:{rel}"], cwd=repo, check=True, capture_output=True).stdout
        assert blob == (html / rel).read_bytes(), rel
    # and the tree that was published passes the site checks (relative links only, nothing remote)
    assert run(html, repo / "_toc.yml") == 0


def test_pages_workflow_builds_with_make_book_and_uploads_build_html():
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf8"))
    steps = workflow["jobs"]["build"]["steps"]
    runs = [step.get("run", "") for step in steps]
    book = next(i for i, r in enumerate(runs) if r.startswith("make book"))
    check = next(i for i, r in enumerate(runs) if r.strip() == "make check-site")
    upload = next(i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("actions/upload-pages-artifact"))
    assert book < check < upload
    assert steps[upload]["with"]["path"] == "_build/html"
    assert any(str(s.get("uses", "")).startswith("actions/deploy-pages") for s in workflow["jobs"]["deploy"]["steps"])


def test_binder_launch_link_is_a_plain_link():
    """_config.yml: Binder (reads environment.yml) is the only launch provider; no Thebe, so no remote script."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    launch = config["launch_buttons"]
    assert launch["binderhub_url"] == "https://mybinder.org"
    assert not launch.get("thebe") and not launch.get("colab_url") and not launch.get("jupyterhub_url")
    assert "sphinx_thebe" not in config["sphinx"]["config"]["extensions"]
    assert (ROOT / "environment.yml").is_file()


# --- scripts/research_links.py and scripts/proof_index.py (Sphinx hooks, tested without a build) ---

class _Builder:
    def get_relative_uri(self, source, target):
        return f"REL({source}->{target})"


def test_research_note_spans_become_links():
    from docutils import nodes

    rl = load_script("research_links")
    para = nodes.paragraph("", "", nodes.Text("see "), nodes.literal("research/paper.md", "research/paper.md"),
                           nodes.Text(" §4.3 and "), nodes.literal("graphon.ntk", "graphon.ntk"))
    linked = nodes.reference("", "", nodes.literal("research/paper.md", "research/paper.md"), refuri="x")
    doc = nodes.section("", para, nodes.paragraph("", "", linked))
    app = type("App", (), {"builder": _Builder(),
                           "env": type("Env", (), {"found_docs": {"book/research/paper"}})()})()
    assert rl.link_notes(app, doc, "book/convergence") == 1
    refs = list(doc.findall(nodes.reference))
    assert [r["refuri"] for r in refs] == ["REL(book/convergence->book/research/paper)", "x"]
    assert refs[0].astext() == "research/paper.md"
    assert "graphon.ntk" in doc.astext()  # other code spans untouched


def test_proof_index_titles_are_plain_text():
    pi = load_script("proof_index")
    assert pi._plain(" (Convergence of PaI masks (paper, Thm 4.7))") == "Convergence of PaI masks (paper, Thm 4.7)"
    assert pi._plain(" (Dense core of size $\\alpha n p^k$)") == "Dense core of size \\alpha n p^k"
    assert pi._plain("") == ""


# --- 9. captions: short, maths typeset ---

def _caption_site(tmp_path, caption_html):
    body = FIGURE.replace("<p><span class=\"caption-number\">Fig. 1 </span>Caption.</p>",
                          f"<p><span class=\"caption-number\">Fig. 1 </span>{caption_html}</p>")
    return make_site(tmp_path, chapter_body=body)


@pytest.mark.parametrize("caption, bad", [
    ("Kept fraction P(xi a(u) b(v) >= tau*) against n.", ">="),
    ("The cut distance falls like n^-1/2.", "n^-"),
    ("Edges per row x_i of the mask.", "x_i"),
    ("Masks at rho = 0.2 for each width.", "rho"),
    ("Error against sqrt(d) for each method.", "sqrt("),
])
def test_ascii_maths_in_a_caption_fails(tmp_path, capsys, caption, bad):
    html, toc = _caption_site(tmp_path, caption)
    assert run(html, toc) == 1
    err = capsys.readouterr().err
    assert "ASCII maths" in err and repr(bad)[1:-1] in err


def test_typeset_maths_and_code_in_a_caption_pass(tmp_path):
    caption = ('Masks at <span class="math notranslate nohighlight">\\(\\rho = 0.2\\)</span>, kept when '
               '<span class="math notranslate nohighlight">\\(S_{ij}\\ge\\tau^*\\)</span>; parameter '
               '<code class="docutils literal notranslate"><span class="pre">n_data</span></code>.')
    html, toc = _caption_site(tmp_path, caption)
    assert run(html, toc) == 0


def test_long_caption_fails(tmp_path, capsys):
    html, toc = _caption_site(tmp_path, " ".join(["word"] * 81))
    assert run(html, toc) == 1
    assert "a caption of 83 words" in capsys.readouterr().err  # "Fig. 1" counts as two words
    assert run(html, toc, "--max-caption-words", "90") == 0
