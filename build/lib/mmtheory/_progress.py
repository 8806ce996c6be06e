"""The progress bar of every long loop: tqdm's notebook-aware bar (``tqdm.auto``).

In a Jupyter kernel with ipywidgets (the ``book`` extra installs it) loops show a notebook widget bar;
in a terminal, tqdm's text bar (off when stderr is not a terminal, where callers pass ``disable=None``).
Without ipywidgets the text bar is used, never tqdm's warning. ``TQDM_DISABLE=1`` turns every bar off
(callers pass ``disable=True`` then, see :func:`mmtheory.train.batched.progress_disabled`).
"""

from __future__ import annotations

try:
    import ipywidgets  # noqa: F401  (tqdm.auto's notebook bar needs it)
except ImportError:  # pragma: no cover - depends on the environment
    from tqdm import tqdm
else:
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
