r"""A small audio-visual stand-in for CREMA-D that shows modality imbalance on a CPU in seconds.

Six classes, two modalities of Gaussian class means in noise, chosen so that the *faster-learning*
modality is not the more informative one:

* ``audio`` carries the class *pair* strongly (classes 0/1, 2/3, 4/5 share a mean; a weaker
  per-class component separates inside a pair) and is presented at a large input scale
  (``audio_scale``), so its encoder learns fastest and lowers the joint loss first;
* ``visual`` separates all six classes but at a small input scale (``visual_scale``).

Alone, each modality reaches a fair accuracy (visual the higher one with the defaults); trained
jointly, audio dominates and the visual encoder is starved -- the phenomenon OGM-GE targets. Input
scale is the knob: rescaling a modality changes how fast plain SGD learns it, not what it knows.
Numpy only; the chapter turns the arrays into tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmtheory._validation import check_positive_int
from mmtheory.seeding import numpy_rng

#: The named streams of :meth:`AVStandin.sample` (a training set and the test set of one seed never share draws).
STREAMS = ("train", "test")


@dataclass(frozen=True)
class AVStandin:
    """Generator of the stand-in. Class means are fixed by ``world_seed``; samples by the ``seed`` of :meth:`sample`.

    Every draw goes through :mod:`mmtheory.seeding`: the means come from stream ``("av-standin", "means")``
    of ``world_seed``, a sample from stream ``("av-standin", stream)`` of its ``seed``.

    Parameters
    ----------
    n_classes : int
        Even number of classes (pairs share an audio mean).
    audio_dim, visual_dim : int
    pair_signal, class_signal : float
        Audio: scale of the pair mean and of the per-class mean (in noise of unit variance).
    visual_signal : float
        Visual: scale of the per-class mean.
    audio_scale, visual_scale : float
        Input scales (learning speed under SGD).
    world_seed : int
    """

    n_classes: int = 6
    audio_dim: int = 32
    visual_dim: int = 32
    pair_signal: float = 1.0
    class_signal: float = 0.2
    visual_signal: float = 0.5
    audio_scale: float = 3.0
    visual_scale: float = 0.5
    world_seed: int = 123

    def __post_init__(self) -> None:
        check_positive_int("n_classes", self.n_classes, 2)
        if self.n_classes % 2:
            raise ValueError(f"n_classes must be even (audio pairs classes); got {self.n_classes}.")
        for name in ("pair_signal", "class_signal", "visual_signal", "audio_scale", "visual_scale"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0; got {v!r}.")

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        """Class means ``(audio (C, d_a), visual (C, d_v))`` before input scaling."""
        g = numpy_rng(self.world_seed, "av-standin", "means")
        c = self.n_classes
        pair = np.repeat(g.standard_normal((c // 2, self.audio_dim)), 2, axis=0)
        own = g.standard_normal((c, self.audio_dim))
        vis = g.standard_normal((c, self.visual_dim))
        return self.pair_signal * pair + self.class_signal * own, self.visual_signal * vis

    def sample(self, n: int, seed: int = 0, stream: str = "train") -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Draw ``n`` samples: ``({"audio": (n, d_a), "visual": (n, d_v)} float32, labels (n,) int64)``.

        Parameters
        ----------
        n : int
        seed : int
            Non-negative; with ``stream`` it names the draw (:func:`mmtheory.seeding.numpy_rng`).
        stream : {"train", "test"}
        """
        check_positive_int("n", n)
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}; got {stream!r}.")
        rng = numpy_rng(seed, "av-standin", stream)
        ma, mv = self.means()
        y = rng.integers(0, self.n_classes, n)
        xa = self.audio_scale * (ma[y] + rng.standard_normal((n, self.audio_dim)))
        xv = self.visual_scale * (mv[y] + rng.standard_normal((n, self.visual_dim)))
        return {"audio": xa.astype(np.float32), "visual": xv.astype(np.float32)}, y.astype(np.int64)
