"""Torch models: late-fusion networks, batched over independent runs."""

from mmtheory.models.fusion import BatchedLateFusion

__all__ = ["BatchedLateFusion"]
