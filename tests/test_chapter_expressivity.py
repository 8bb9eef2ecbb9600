"""Run the expressivity chapter at tiny parameters and check its headline claims.

Each assertion is one of the page's claims, with a tolerance from theory:

* Lemma 5.6 (this book's reading) on masks of **real criteria**: the measured dense core matches the
  exact mean ``n c`` of the independent-edge model, with ``c`` read from the criterion's graphon on
  other networks, within 4 standard errors (``z ~ N(0, 1)`` when the model holds: a false alarm has
  probability about 6e-5 per width), and it stays above the law's bound ``alpha n p^k`` (within 4
  standard errors of the measured mean).
* A data-driven criterion (SNIP) has a larger dense core than Random at the same density, by more than
  4 standard errors of the difference.
* The rectangle sanity check: binomial counts agree with their exact mean within 4 standard errors.
* A connected network beats the disconnection floor ``E[Var(y | x_rest)] / Var(y)`` (1 for the product
  target), while the network with one active coordinate disconnected does not go below it; the slack
  is 4 standard errors of a variance estimated from ``n_test`` points (relative se ``sqrt(2/n_test)``).
* Online training does not overfit: train and test errors agree within the same test-set slack.
"""

from __future__ import annotations

import math

TINY = {
    "criteria": ["random", "snip"],
    "criteria_widths": [32, 128],
    "criteria_d": 24,
    "criteria_k": 2,
    "criteria_seeds": 16,
    "criteria_seed_sets": 2,
    "graphon_blocks": 8,
    "core_widths": [20, 80],
    "floors": [0.5],
    "alpha": 0.5,
    "core_seeds": 50,
    "ks": [1, 2],
    "fit_ks": [2],
    "widths": [16, 64],
    "ds": [8, 32],
    "density": 0.3,
    "methods": ["snip", "random"],
    "seeds": 2,
    "n_train": 2048,
    "n_test": 512,
    "epochs": 4,
    "batch_size": 128,
    "failure_epochs": 8,
    "online": True,
    "input_lr": 0.03,
}


def test_expressivity_chapter_headline_claims(run_chapter, tmp_path):
    m = run_chapter("expressivity", TINY)
    crit = m["criteria_dense_core"]
    assert set(crit) == {"random", "snip"}
    for method, r in crit.items():
        assert r["widths"] == [32, 128]
        assert all(abs(z) <= 4 for z in r["z_exact"]), (method, r["z_exact"])
        assert all(z >= -4 for z in r["z_law"]), (method, r["z_law"])
    snip, rnd = crit["snip"], crit["random"]
    se = math.hypot(snip["standard_error"][-1], rnd["standard_error"][-1])
    assert snip["mean"][-1] > rnd["mean"][-1] + 4 * se
    assert m["dense_core_max_standard_errors"] <= 4

    floor = m["disconnected_floor"]
    assert floor == 1.0  # product target
    slack = 4 * math.sqrt(2 / TINY["n_test"])
    widest = str(TINY["widths"][-1])
    assert max(m["disconnected_per_seed"]["connected"][widest]) < floor - slack
    for errs in m["disconnected_per_seed"]["disconnected"].values():
        assert min(errs) > floor - slack

    for method in ("snip", "random"):
        for d in ("8", "32"):
            for n in ("16", "64"):
                gap = m["train_errors"][method][d]["2"][n] - m["errors"][method][d]["2"][n]
                assert abs(gap) < slack, (method, d, n, gap)
    for name in ("fig-expressivity-core-criteria", "fig-expressivity-core", "fig-expressivity-width",
                 "fig-expressivity-disconnected"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{name}.{ext}").stat().st_size > 0


def _prose(md: str) -> str:
    """The page's prose and figure captions, without code, maths, inline code and glue roles."""
    import re
    import textwrap

    out = []
    for block in re.split(r"(```\{code-cell\}.*?\n```)", md, flags=re.S):
        if block.startswith("```{code-cell}"):
            caption = re.search(r"caption: \|\n(.*?)\n---", block, flags=re.S)
            out.append(textwrap.dedent(caption.group(1)) if caption else "")
        else:
            out.append(block)
    text = "\n".join(out)
    text = re.sub(r"\{glue:text\}`[^`]*`", " ", text)
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$", " ", text)
    text = re.sub(r"^    .*$", " ", text, flags=re.M)  # indented code in the solutions
    return text


def test_page_prose_types_no_measured_number():
    # Every measured number in a paragraph or caption comes from the executed notebook (MyST-NB glue):
    # a decimal number typed into the prose is a measurement that another seed or machine can break.
    import re
    from pathlib import Path

    md = (Path(__file__).resolve().parents[1] / "book" / "expressivity.md").read_text()
    # a decimal number not preceded by a letter, digit or dot (section numbers such as "Lemma 5.6" are
    # the paper's labels, not measurements)
    typed = [t for t in re.findall(r"(?<![\w.])\d+\.\d+", _prose(md))
             if not re.search(r"(Lemma|Thm|Theorem) " + re.escape(t), md)]
    assert not typed, f"decimal numbers typed into the prose or captions: {typed}"
