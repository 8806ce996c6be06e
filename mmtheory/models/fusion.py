r"""Late fusion with one linear encoder per modality, batched over independent runs.

Huang et al. (2021) train "one linear layer per modality (no sharing), late fusion by concatenation,
a linear head". Many such models (modality subsets x seeds x data fractions) are independent, so
:class:`BatchedLateFusion` holds ``R`` of them as stacked weights and trains them in one pass of
batched matrix products. Run ``r`` sees modality ``k`` iff ``mask[r, k]``: a missing modality's
encoder output is zeroed, which is the map :math:`p_M` and makes :math:`\mathcal G_N \subseteq \mathcal G_M`.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import nn


class BatchedLateFusion(nn.Module):
    """``R`` independent late-fusion models ``head(concat_k mask_k * (W_k x_k + b_k))``.

    Parameters
    ----------
    view_dims : dict of str -> int
        Input dimension of each modality, in canonical order.
    hidden : int
        Latent size of each modality's encoder.
    n_outputs : int
        Output dimension (classes or regression targets).
    mask : bool tensor (R, K) or sequence of modality subsets
        Which modalities each run observes; a list of subsets such as ``[("m1",), ("m1", "m2")]``
        is converted with :meth:`masks_from_subsets`.
    seed : int
        Seed of the initialisation (torch's ``nn.Linear`` default, drawn independently per run).
    """

    def __init__(
        self,
        view_dims: Mapping[str, int],
        hidden: int,
        n_outputs: int,
        mask: torch.Tensor | Sequence[Sequence[str]],
        *,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.modalities = tuple(view_dims)
        if not isinstance(mask, torch.Tensor):
            mask = self.masks_from_subsets(mask, self.modalities)
        mask = mask.to(torch.bool)
        if mask.ndim != 2 or mask.shape[1] != len(self.modalities):
            raise ValueError(f"mask must have shape (R, {len(self.modalities)}); got {tuple(mask.shape)}.")
        if not bool(mask.any(1).all()):
            raise ValueError("every run must observe at least one modality (a row of mask is all False).")
        self.register_buffer("mask", mask)
        n_runs = mask.shape[0]
        gen = torch.Generator().manual_seed(int(seed))

        def uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
            bound = 1.0 / math.sqrt(fan_in)
            return nn.Parameter((torch.rand(shape, generator=gen) * 2 - 1) * bound)

        self.enc_weight = nn.ParameterList([uniform((n_runs, d, hidden), d) for d in view_dims.values()])
        self.enc_bias = nn.ParameterList([uniform((n_runs, 1, hidden), d) for d in view_dims.values()])
        fan = hidden * len(self.modalities)
        self.head_weight = uniform((n_runs, fan, n_outputs), fan)
        self.head_bias = uniform((n_runs, 1, n_outputs), fan)
        self.hidden = hidden

    @staticmethod
    def masks_from_subsets(subsets: Sequence[Sequence[str]], modalities: Sequence[str]) -> torch.Tensor:
        """Boolean (R, K) mask from a list of modality subsets (names validated)."""
        rows = []
        for subset in subsets:
            unknown = [m for m in subset if m not in modalities]
            if unknown or not subset:
                raise ValueError(
                    f"bad modality subset {tuple(subset)}: unknown {unknown}; valid names are {list(modalities)}."
                )
            rows.append([m in subset for m in modalities])
        return torch.tensor(rows, dtype=torch.bool)

    @property
    def n_runs(self) -> int:
        return int(self.mask.shape[0])

    def encode(self, views: Sequence[torch.Tensor]) -> torch.Tensor:
        """Latent ``z`` (R, n, K * hidden) from views, each (n, d_k) shared by all runs or (R, n, d_k).

        A modality's encoder is evaluated only for the runs that observe it (the others get zeros), so
        runs on small modality sets cost less.
        """
        parts = []
        for k, x in enumerate(views):
            seen = self.mask[:, k]
            if bool(seen.all()):
                parts.append(torch.matmul(x, self.enc_weight[k]) + self.enc_bias[k])
                continue
            rows = torch.nonzero(seen).squeeze(1)
            xk = x if x.ndim == 2 else x[rows]
            zk = torch.matmul(xk, self.enc_weight[k][rows]) + self.enc_bias[k][rows]
            z = zk.new_zeros((self.n_runs,) + tuple(zk.shape[1:]))
            parts.append(z.index_copy(0, rows, zk))
        return torch.cat(parts, dim=-1)

    def forward(self, views: Sequence[torch.Tensor]) -> torch.Tensor:
        """Outputs (R, n, n_outputs)."""
        return torch.baddbmm(self.head_bias, self.encode(views), self.head_weight)

    def encoder_matrices(self) -> list[torch.Tensor]:
        """Per run, the linear part of the encoder on the observed modalities' concatenated features.

        Returns a list of R tensors of shape (sum of observed d_k, sum of observed hidden): block
        diagonal, one block per observed modality, in canonical order. Feed it to
        :func:`mmtheory.theory.linear.latent_quality` as ``encoder``.
        """
        out = []
        for r in range(self.n_runs):
            blocks = [self.enc_weight[k][r].detach() for k in range(len(self.modalities)) if self.mask[r, k]]
            out.append(torch.block_diag(*blocks))
        return out
