"""Training loops (torch). Theory code never imports this package."""

from mmtheory.train.batched import fit_batched, refit_heads

__all__ = ["fit_batched", "refit_heads"]
