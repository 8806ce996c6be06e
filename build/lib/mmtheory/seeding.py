"""One seed helper: every random stream of a run is spawned from its seed by ``np.random.SeedSequence``.

A run has one user-facing ``seed``. Each random stream (model initialisation, batch order, GE noise,
the host generators of :func:`mmtheory.report.setup`, the device generator, ...) gets its own seed,
derived as ``SeedSequence(seed, spawn_key=key)`` with a stream name as key. So two streams never
share a seed, in particular a host generator and a device generator, and adding a stream never shifts
another one. Stream names are turned into integers with CRC-32 (stable across processes and Python
versions, unlike ``hash``).

Examples
--------
>>> derive_seed(0, "shuffle", 3) == derive_seed(0, "shuffle", 3)
True
>>> derive_seed(0, "host") != derive_seed(0, "device")
True
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

Key = str | int


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
    return int(seed)


def _key(key: tuple[Key, ...]) -> tuple[int, ...]:
    out = []
    for k in key:
        if isinstance(k, str):
            out.append(zlib.crc32(k.encode("utf-8")))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 0:
            out.append(int(k))
        else:
            raise ValueError(f"a stream key is a name or a non-negative integer; got {k!r}.")
    return tuple(out)


def seed_sequence(seed: int, *key: Key) -> np.random.SeedSequence:
    """The ``SeedSequence`` of stream ``key`` (names and non-negative integers) of run ``seed``.

    Parameters
    ----------
    seed : int
        The run's seed (non-negative).
    *key : str or int
        The stream, e.g. ``("shuffle", epoch)``; an empty key is the run's root sequence.

    Returns
    -------
    numpy.random.SeedSequence
        ``SeedSequence(seed, spawn_key=...)``: statistically independent of every other key's.
    """
    return np.random.SeedSequence(_check_seed(seed), spawn_key=_key(key))


def derive_seed(seed: int, *key: Key, bits: int = 63) -> int:
    """An integer seed in ``[0, 2**bits)`` for stream ``key`` of run ``seed`` (for APIs that take an int).

    ``bits=63`` suits ``torch.Generator.manual_seed``; ``bits=32`` suits ``np.random.seed`` and
    ``random.seed``.
    """
    if not 1 <= bits <= 64:
        raise ValueError(f"bits must lie in 1..64; got {bits}.")
    word = int(seed_sequence(seed, *key).generate_state(1, np.uint64)[0])
    return word >> (64 - bits)


def numpy_rng(seed: int, *key: Key) -> np.random.Generator:
    """A ``np.random.Generator`` (PCG64) on stream ``key`` of run ``seed``."""
    return np.random.default_rng(seed_sequence(seed, *key))


def torch_generator(seed: int, *key: Key, device: "str | torch.device" = "cpu") -> "torch.Generator":
    """A ``torch.Generator`` on ``device`` seeded for stream ``key`` of run ``seed``."""
    import torch

    return torch.Generator(device=device).manual_seed(derive_seed(seed, *key))
