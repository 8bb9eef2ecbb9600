"""scripts/check_numbers.py on small synthetic built pages and executed notebooks: a number typed in a
caption or a paragraph fails unless the notebook's outputs (printed text, results, glue values) hold it
to the precision written; the exemptions of its rule (CONTRIBUTING.md) pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_script

cn = load_script("check_numbers")

MATH = '<span class="math notranslate nohighlight">\\({}\\)</span>'


def page(body: str) -> str:
    return f"""<!DOCTYPE html><html><head><title>Page 12</title></head><body>
<nav class="bd-links"><a href="x.html">Chapter 2.5</a></nav>
<article class="bd-article" role="main"><h1>Convergence 4.7<a class="headerlink" href="#">#</a></h1>
{body}
</article></body></html>"""


FIGURE = """<div class="cell tag_hide-input docutils container">
<div class="cell_input docutils container"><pre>x = 0.123456</pre></div>
<div class="cell_output docutils container"><div class="output stream highlight-myst-ansi"><pre>printed 0.987</pre></div>
<figure class="align-default" id="fig-rate"><img alt="" src="../_images/a.png" />
<figcaption><p><span class="caption-number">Fig. 3 </span>{caption}</p></figcaption></figure>
</div></div>"""


def notebook(tmp_path: Path, *texts: str, glue: dict | None = None) -> Path:
    cells = [{"cell_type": "code", "source": "print(...)", "metadata": {}, "execution_count": 1,
              "outputs": [{"output_type": "stream", "name": "stdout", "text": [t]} for t in texts]}]
    for key, value in (glue or {}).items():
        cells.append({"cell_type": "code", "source": f"glue({key!r}, ...)", "metadata": {},
                      "execution_count": 2, "outputs": [{
                          "output_type": "display_data", "data": {"text/plain": repr(value)},
                          "metadata": {"scrapbook": {"name": key, "mime_prefix": ""}}}]})
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def findings(tmp_path, body, *texts, glue=None, captions_only=False, allow=()):
    outputs = cn.OutputNumbers.from_notebook(notebook(tmp_path, *texts, glue=glue))
    return [f.number for f in cn.check_page(page(body), outputs, "book/x", list(allow), captions_only)]


def test_a_computed_caption_passes_and_a_typed_one_fails(tmp_path):
    ok = FIGURE.format(caption="The slope is 0.49 (mean of 8 seeds).")
    assert findings(tmp_path, ok, "slope -0.4873\n") == []
    typed = FIGURE.format(caption="The slope is 0.52.")
    assert findings(tmp_path, typed, "slope -0.4873\n") == ["0.52"]


def test_rounding_may_drop_digits_never_change_them(tmp_path):
    out = "value 0.4873\n"
    assert findings(tmp_path, "<p>about 0.5 or 0.49 or 0.487</p>", out) == []
    assert findings(tmp_path, "<p>0.488 and 0.48</p>", out) == ["0.488", "0.48"]


def test_glue_values_count_as_outputs(tmp_path):
    body = "<p>The ratio is 12.3 and the rate 1.5e-06.</p>"
    assert findings(tmp_path, body, glue={"ratio": 12.3456, "rate": 1.46e-6}) == []
    assert findings(tmp_path, body, glue={"ratio": 12.3456}) == ["1.5e-06"]


def test_glued_spans_and_code_and_links_and_outputs_are_not_prose(tmp_path):
    body = ("<p>Glued <span class=\"pasted-text\">0.777</span>, code <code>-p density 0.05</code>, "
            "<a href=\"ref.html\">Lee et al. 2019</a>, <a href=\"#fig-rate\">Fig. 7.3</a>.</p>"
            "<div class=\"cell_output docutils container\"><p>table cell 0.333</p></div>")
    assert findings(tmp_path, body) == []


def test_exempt_numbers_follow_the_documented_rule(tmp_path):
    body = ("<p>Theorem 4.7 and Lemma 5.6 of the paper (Figs 1, 3 and 5; Section 6; Eq. (3); arXiv "
            "2602.06675; ICML 2026) use k = 2 active coordinates, depth 3 and "
            + MATH.format("n^{-1/2}") + ", " + MATH.format("10^{-6}") + ", " + MATH.format("1/2")
            + "; float32 and L2 are names.</p>")
    assert findings(tmp_path, body) == []


def test_small_integers_are_checked_as_ratios_and_percentages(tmp_path):
    body = "<p>SNIP is 3× less flat and keeps 13 % of the weights.</p>"
    assert findings(tmp_path, body) == ["3", "13"]
    assert findings(tmp_path, body, "ratio 3.04 kept 0.1302") == []


def test_decimals_and_large_integers_in_math_are_checked(tmp_path):
    body = "<p>At " + MATH.format("n = 400") + " the error is " + MATH.format("1.5\\times 10^{-6}") + ".</p>"
    assert sorted(findings(tmp_path, body)) == ["1.5", "400"]
    assert findings(tmp_path, body, "widths [100, 200, 400] error 1.46e-06") == []
    block = '<div class="math notranslate nohighlight">\\[K = 0.25\\]</div>'
    assert findings(tmp_path, block) == ["0.25"]


def test_exercises_and_solutions_are_not_checked(tmp_path):
    body = ('<div class="exercise admonition"><p class="admonition-title">Exercise 1</p>'
            "<p>Rerun with density 0.05.</p></div>"
            '<details class="solution dropdown"><summary>Solution</summary><p>It gives 0.31.</p></details>')
    assert findings(tmp_path, body) == []


def test_captions_only_skips_paragraphs(tmp_path):
    body = "<p>Typed 0.52.</p>" + FIGURE.format(caption="Typed 0.61.")
    assert findings(tmp_path, body) == ["0.52", "0.61"]
    assert findings(tmp_path, body, captions_only=True) == ["0.61"]


def test_the_allow_list_needs_page_context_and_reason(tmp_path):
    body = "<p>The paper trains width 1000 networks.</p>"
    entry = cn.Allowed("book/x", "1000", "The paper trains width", "the paper's setting (Sec. 7)")
    assert findings(tmp_path, body) == ["1000"]
    assert findings(tmp_path, body, allow=[entry]) == []
    other_page = cn.Allowed("book/y", "1000", "The paper trains width", "the paper's setting")
    assert findings(tmp_path, body, allow=[other_page]) == ["1000"]
    bad = tmp_path / "allow.yaml"
    bad.write_text("- page: book/x\n  number: '1000'\n  context: The paper\n")
    with pytest.raises(ValueError, match="reason"):
        cn.load_allow(bad)


def _site(tmp_path: Path, body: str, *texts: str) -> Path:
    build = tmp_path / "_build"
    (build / "html" / "book").mkdir(parents=True)
    (build / "jupyter_execute" / "book").mkdir(parents=True)
    (build / "html" / "book" / "chapter.html").write_text(page(body))
    (build / "html" / "book" / "intro.html").write_text(page("<p>The paper's 0.123 (no notebook).</p>"))
    nb = notebook(tmp_path, *texts)
    (build / "jupyter_execute" / "book" / "chapter.ipynb").write_text(nb.read_text())
    return build


def test_the_command_fails_on_a_typed_caption_and_names_the_page(tmp_path, capsys):
    build = _site(tmp_path, FIGURE.format(caption="Slope 0.52."), "slope -0.4873")
    assert cn.main([str(build), "--allow", str(tmp_path / "none.yaml")]) == 1
    out = capsys.readouterr().out
    assert "FAIL book/chapter [caption fig-rate] 0.52: Slope 0.52." in out
    assert "FAIL book/chapter: 1 typed numbers (1 in captions)" in out
    assert "skipped (no notebook): book/intro" in out


def test_the_command_passes_a_computed_page(tmp_path, capsys):
    build = _site(tmp_path, FIGURE.format(caption="Slope 0.49."), "slope -0.4873")
    assert cn.main([str(build), "--allow", str(tmp_path / "none.yaml")]) == 0
    assert "ok: every number is computed by its notebook" in capsys.readouterr().out
