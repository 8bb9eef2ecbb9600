"""Rerunning the book's chapters: the machinery, kept apart from the mathematics.

- :mod:`~graphon.runs.params`: a chapter's ``parameters`` cell (grammar, typed values, run hash).
- :mod:`~graphon.runs.rules`: each chapter's declaration file ``book/rules/<chapter>.yaml``: rules
  between parameters, list-length rules, and the memory and wall-time model of a run.
- :mod:`~graphon.runs.runner`: execute one chapter into a run folder (``python -m graphon run``).
- :mod:`~graphon.runs.sweep`: a grid of runs sharing one point store (``python -m graphon sweep``).
- :mod:`~graphon.runs.cli`: the command line (``python -m graphon``, ``graphon-run``).

``graphon.outputs`` and ``graphon.progress`` stay at the top level: the chapters call them.
"""
