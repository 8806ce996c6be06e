"""Root conftest: applies to every test and to every notebook ``pytest --nbval`` collects.

nbval compares a re-executed cell's outputs with the committed ones as exact strings. On another CPU
(or arm64, a GPU, another torch build) the last digits of a trained model's numbers move, so here the
comparison is made tolerance-aware, with the book's one definition of "the same numbers"
(:mod:`mmtheory.tolerance`): words (statuses, ids, column names) must be equal, numbers agree within
``RTOL``/``ATOL`` or one unit of their last printed digit. Everything else of nbval is unchanged
(sanitizers first, then this comparison; images are not compared).
"""

from __future__ import annotations


class _TolerantText(str):
    """A sanitized output text that compares equal to another within the book's tolerance."""

    __slots__ = ()

    def __eq__(self, other):  # noqa: D105
        from mmtheory.tolerance import texts_agree

        return isinstance(other, str) and texts_agree(str(self), str(other))

    def __ne__(self, other):  # noqa: D105
        return not self.__eq__(other)

    __hash__ = str.__hash__


def pytest_configure(config):
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: nothing to compare
        return
    if getattr(IPyNbCell.sanitize, "_mmtheory_tolerant", False):
        return
    exact = IPyNbCell.sanitize

    def sanitize(self, s):
        out = exact(self, s)
        return _TolerantText(out) if isinstance(out, str) else out

    sanitize._mmtheory_tolerant = True
    IPyNbCell.sanitize = sanitize
