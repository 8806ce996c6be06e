r"""Late fusion with one linear encoder per modality, batched over independent runs.

Huang et al. (2021) train "one linear layer per modality (no sharing), late fusion by concatenation,
a linear head". Many such models (modality subsets x seeds x data fractions) are independent, so
:class:`BatchedLateFusion` holds ``R`` of them as stacked weights and trains them in one pass of
batched matrix products. Run ``r`` sees modality ``k`` iff ``mask[r, k]``: a missing modality's
encoder output is zero, which is the map :math:`p_M` and makes :math:`\mathcal G_N \subseteq \mathcal G_M`.
The zeros are never computed: each modality's encoder runs only for the runs that observe it and the
head sums the pieces (``compute="grouped"``); ``compute="masked"`` is the multiply-by-zero reference.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import nn

from mmtheory.seeding import torch_generator


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
        Seed of the initialisation (torch's ``nn.Linear`` default, drawn independently per run), from
        its stream ``"init"`` (:func:`mmtheory.seeding.torch_generator`).
    compute : {"grouped", "masked"}
        ``grouped`` (default): modality k's encoder and head block are evaluated only for the runs
        that observe k (one batched product over just those runs) and the outputs are summed from
        those pieces: the arithmetic is what the runs use. ``masked``: the reference, every encoder
        for every run with unobserved outputs multiplied by zero (same parameters, same results up
        to floating-point noise, more work).
    """

    def __init__(
        self,
        view_dims: Mapping[str, int],
        hidden: int,
        n_outputs: int,
        mask: torch.Tensor | Sequence[Sequence[str]],
        *,
        seed: int = 0,
        compute: str = "grouped",
    ) -> None:
        super().__init__()
        if compute not in ("grouped", "masked"):
            raise ValueError(f"compute must be 'grouped' or 'masked', got {compute!r}.")
        self.compute = compute
        self.modalities = tuple(view_dims)
        if not isinstance(mask, torch.Tensor):
            mask = self.masks_from_subsets(mask, self.modalities)
        mask = mask.to(torch.bool)
        if mask.ndim != 2 or mask.shape[1] != len(self.modalities):
            raise ValueError(f"mask must have shape (R, {len(self.modalities)}); got {tuple(mask.shape)}.")
        if not bool(mask.any(1).all()):
            raise ValueError("every run must observe at least one modality (a row of mask is all False).")
        self.register_buffer("mask", mask)
        rows = [tuple(int(k) for k in torch.nonzero(r).squeeze(1)) for r in mask.cpu()]
        self._blocks, start = [], 0
        for r in range(1, len(rows) + 1):
            if r == len(rows) or rows[r] != rows[start]:
                self._blocks.append((start, r, rows[start]))
                start = r
        # position of each block's first run among the runs that observe modality k (grouped inputs)
        seen = mask.cpu().long().cumsum(0) - mask.cpu().long()
        self._pos = [{k: int(seen[s, k]) for k in ks} for s, _, ks in self._blocks]
        n_runs = mask.shape[0]
        gen = torch_generator(seed, "init")

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

    @property
    def blocks(self) -> list[tuple[int, int, tuple[int, ...]]]:
        """Consecutive runs that observe the same modalities: ``(start, stop, modality indices)``.

        The grouped computation works block by block on slices (views, no copies) of the stacked
        parameters, so no index or scatter operation enters the backward pass. A sweep that lists
        its runs set by set (as :func:`~mmtheory.experiments.modality_sweep.modality_sweep` does) has
        one block per modality set.
        """
        return self._blocks

    @property
    def modality_runs(self) -> list[torch.Tensor | None]:
        """Per modality, the (R_k,) indices of the runs that observe it (``None``: every run does).

        :func:`~mmtheory.train.batched.fit_batched` gathers each modality's minibatch only for these
        runs and calls ``model(pieces, grouped=True)``. ``compute="masked"``: ``None`` everywhere.
        """
        if self.compute == "masked":
            return [None] * len(self.modalities)
        cache = getattr(self, "_runs_cache", None)
        if cache is None or cache[0] != self.mask.device:
            runs = [None if bool(self.mask[:, k].all()) else torch.nonzero(self.mask[:, k]).squeeze(1)
                    for k in range(len(self.modalities))]
            cache = self._runs_cache = (self.mask.device, runs)
        return cache[1]

    def _encode_masked(self, views: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Reference path: every encoder for every run, unobserved modalities multiplied by zero."""
        keep = self.mask.to(self.head_weight.dtype)
        return [(torch.matmul(x, self.enc_weight[k]) + self.enc_bias[k]) * keep[:, k, None, None]
                for k, x in enumerate(views)]

    def encode_blocks(self, views: Sequence[torch.Tensor], *, grouped: bool = False
                      ) -> list[tuple[int, int, tuple[int, ...], list[torch.Tensor]]]:
        """Each block's latents, computed only for the modalities its runs observe.

        Parameters
        ----------
        views : sequence of K tensors
            (n, d_k) shared by all runs or (R, n, d_k) per run; with ``grouped=True`` modality k's
            tensor holds only its observing runs, (R_k, n, d_k) in the order of :attr:`modality_runs`.

        Returns
        -------
        list of ``(start, stop, modalities, latents)``
            One entry per :attr:`blocks` item; ``latents[j]``: (stop - start, n, hidden), the encoder
            output of modality ``modalities[j]`` for runs ``start:stop``.
        """
        if len(views) != len(self.modalities):
            raise ValueError(f"expected {len(self.modalities)} views ({list(self.modalities)}); got {len(views)}.")
        out = []
        for b, (s, e, ks) in enumerate(self._blocks):
            zs = []
            for k in ks:
                x, w, bias = views[k], self.enc_weight[k][s:e], self.enc_bias[k][s:e]
                if x.ndim == 2:  # shared by all runs: one (n, d) @ (R_b, d, h) product
                    zs.append(torch.matmul(x, w) + bias)
                else:
                    p = self._pos[b][k] if grouped else s
                    zs.append(torch.baddbmm(bias, x[p:p + e - s], w))
            out.append((s, e, ks, zs))
        return out

    def encode(self, views: Sequence[torch.Tensor]) -> torch.Tensor:
        """Latent ``z`` (R, n, K * hidden) from views, each (n, d_k) shared by all runs or (R, n, d_k).

        Unobserved modalities' blocks are zero (the map :math:`p_M`); each block is computed only for
        the runs that observe its modality. Training and the head refit use :meth:`encode_blocks`,
        which never builds the zero blocks.
        """
        if self.compute == "masked":
            return torch.cat(self._encode_masked(views), dim=-1)
        rows = []
        for s, e, ks, zs in self.encode_blocks(views):
            parts = dict(zip(ks, zs))
            zero = zs[0].new_zeros(zs[0].shape)
            rows.append(torch.cat([parts.get(k, zero) for k in range(len(self.modalities))], dim=-1))
        return torch.cat(rows, dim=0)

    def forward(self, views: Sequence[torch.Tensor], *, grouped: bool = False) -> torch.Tensor:
        """Outputs (R, n, n_outputs).

        Grouped (default): for each block of runs, ``head_bias + sum_k z_k @ head_weight[k-th block]``
        over the block's observed modalities only, i.e. the head applied to the concatenation of the
        run's own pieces, assembled without zero blocks; the blocks' outputs are stacked in run order.
        ``compute="masked"``: the zero-padded latent times the whole head.
        """
        if self.compute == "masked":
            return torch.baddbmm(self.head_bias, torch.cat(self._encode_masked(views), dim=-1), self.head_weight)
        h, outs = self.hidden, []
        for s, e, ks, zs in self.encode_blocks(views, grouped=grouped):
            head = self.head_weight[s:e]
            out = torch.baddbmm(self.head_bias[s:e], zs[0], head[:, ks[0] * h:(ks[0] + 1) * h])
            for k, z in zip(ks[1:], zs[1:]):
                out = torch.baddbmm(out, z, head[:, k * h:(k + 1) * h])
            outs.append(out)
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)

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
