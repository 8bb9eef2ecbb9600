"""Sphinx extension: the proof index (``prf-prf.html``) lists each statement by its number and title.

sphinx-proof 0.4 builds its index from the labels alone, one group per label, so the page showed raw
anchors such as ``def-fsm``. This extension records every labelled ``prf:`` directive's title while the
pages are read, and replaces the domain's index with one grouped by kind (Definitions, Lemmas, Remarks,
Theorems...), each entry written as "Theorem 2.1 Convergence of PaI masks (paper, Thm 4.7)" and followed
by the title of the page it is on. Loaded from ``_config.yml`` (``sphinx.local_extensions``) after
sphinx_proof.
"""

from __future__ import annotations

import re
from collections import defaultdict

_MATH = re.compile(r"\$+([^$]*)\$+")


def _plain(title: str) -> str:
    """A directive title as plain text: the parentheses of sphinx-proof's default title format
    (``" (%t)"``) and the ``$...$`` delimiters dropped (the index is plain text)."""
    title = title.strip()
    if title.startswith("(") and title.endswith(")"):
        title = title[1:-1]
    return _MATH.sub(lambda m: m.group(1), title).strip()


def _record_titles(app, doctree) -> None:
    env = app.env
    titles = env.__dict__.setdefault("graphon_proof_titles", {})
    for node in doctree.findall(lambda n: hasattr(n, "get") and n.get("realtype") and n.get("label")):
        titles[node["label"]] = {"title": _plain(str(node.get("title", ""))), "docname": env.docname}


def _purge(app, env, docname) -> None:
    titles = getattr(env, "graphon_proof_titles", {})
    for label in [k for k, v in titles.items() if v["docname"] == docname]:
        del titles[label]


def _merge(app, env, docnames, other) -> None:
    env.__dict__.setdefault("graphon_proof_titles", {}).update(getattr(other, "graphon_proof_titles", {}))


def _number(env, docname: str, countertype: str, anchor: str) -> tuple[int, ...]:
    return tuple(getattr(env, "toc_fignumbers", {}).get(docname, {}).get(countertype, {}).get(anchor, ()))


def make_index(base):
    """A subclass of sphinx_proof's ``ProofIndex`` whose entries carry numbers and titles."""

    class TitledProofIndex(base):
        localname = "Index of definitions, theorems and remarks"

        def generate(self, docnames=None):
            env = self.domain.env
            proofs = getattr(env, "proof_list", {})
            titles = getattr(env, "graphon_proof_titles", {})
            groups: dict[str, list] = defaultdict(list)
            for anchor, values in proofs.items():
                if docnames and values["docname"] not in docnames:
                    continue
                kind = values["realtype"].capitalize()
                number = () if values.get("nonumber") else _number(
                    env, values["docname"], values["countertype"], anchor)
                title = titles.get(anchor, {}).get("title", "")
                name = " ".join(p for p in (kind, ".".join(map(str, number)), title) if p)
                page = env.titles.get(values["docname"])
                extra = page.astext() if page is not None else values["docname"]
                entry = (name, 0, values["docname"], anchor, extra, "", "")
                groups[kind + "s"].append((number or (10**6,), name, entry))
            content = [(kind, [entry for *_, entry in sorted(entries)])
                       for kind, entries in sorted(groups.items())]
            return content, True

    return TitledProofIndex


def setup(app):
    from sphinx_proof.domain import ProofDomain, ProofIndex

    ProofDomain.indices = [make_index(ProofIndex)]
    app.connect("doctree-read", _record_titles)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
