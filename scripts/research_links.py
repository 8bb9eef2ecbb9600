"""Sphinx extension: an inline code span naming a research note links to the page that publishes it.

The chapters cite the project's notes as ```research/paper.md` §4.3``. Those files are published as pages of
the site (``book/research/paper.md`` and ``book/research/prior_and_code.md`` include them), so each such span
becomes a link to its page: a reader of the site can open what is cited. Loaded from ``_config.yml``
(``sphinx.local_extensions``). A span already inside a link is left alone.
"""

from __future__ import annotations

from docutils import nodes

#: inline code text -> docname of the page that publishes the note
NOTES = {
    "research/paper.md": "book/research/paper",
    "research/prior_and_code.md": "book/research/prior_and_code",
    "research/README.md": "book/research/prior_and_code",
}


def link_notes(app, doctree, docname) -> int:
    """Wrap every ``literal`` node whose text names a note in a reference to its page. Returns the count."""
    found = app.env.found_docs if hasattr(app.env, "found_docs") else set(NOTES.values())
    linked = 0
    for node in list(doctree.findall(nodes.literal)):
        target = NOTES.get(node.astext().strip())
        if target is None or target not in found or isinstance(node.parent, nodes.reference):
            continue
        uri = app.builder.get_relative_uri(docname, target)
        node.replace_self(nodes.reference("", "", node.deepcopy(), refuri=uri, internal=True,
                                          classes=["research-note"]))
        linked += 1
    return linked


def setup(app):
    app.connect("doctree-resolved", link_notes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
