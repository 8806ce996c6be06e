r"""On-the-fly gradient modulation with generalization enhancement (OGM-GE; Peng et al., CVPR 2022).

A plug-in for any late-fusion model, used between ``loss.backward()`` and ``optimizer.step()``::

    ogm = OGMGE(model.encoders, alpha=0.8)
    for epoch in range(epochs):
        for inputs, y in batches:
            feats, logits = model(inputs)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(); loss.backward()
            ogm.apply(model.branch_logits(feats), y, epoch)   # rescales encoder gradients in place
            optimizer.step()

Per step (mini-batch :math:`B_t`):

* score of modality u: :math:`s^u = \sum_{i\in B_t} \mathrm{softmax}(z^u_i)[y_i]`, with :math:`z^u` the
  branch logits of u (``LateFusionClassifier.branch_logits``);
* discrepancy ratio: :math:`\rho^u = s^u / \bar s^{-u}`, where :math:`\bar s^{-u}` is the mean score of
  the *other* modalities. With two modalities this is the paper's :math:`\rho^a = s^a/s^v`,
  :math:`\rho^v = 1/\rho^a`; with K > 2 (our extension) a modality is dominant when it beats the
  average of the rest;
* coefficient: ``variant="paper"`` (default, Eq. 10 and the official code):
  :math:`k^u = 1-\tanh(\alpha\rho^u)` if :math:`\rho^u>1`, else 1 -- it jumps from 1 to
  :math:`1-\tanh\alpha` at :math:`\rho=1`; ``variant="continuous"``: :math:`k^u = 1-\tanh(\alpha\max(\rho^u-1,0))`;
* modulation: the gradient of each selected parameter of encoder u becomes :math:`k^u g`; with GE,
  :math:`k^u g + \varepsilon`, :math:`\varepsilon\sim\mathcal N(0,\operatorname{std}(g)^2)` (the std of the
  unscaled gradient, plus 1e-8).

Choices the paper leaves open follow the official code by default and are switches:

``params="conv"``  only 4-D (convolution) weights are modulated; batch norm, biases and the fusion head
                   are left alone. ``"weights"``: every weight of dimension >= 2 (conv and linear);
                   ``"all"``: every parameter of the encoder.
``noise_on="all"`` GE noise on every modality's selected parameters, weak ones included (k = 1 there);
                   ``"dominant"``: only where k < 1.
window             modulation and noise act for ``start_epoch <= epoch <= end_epoch`` (official 0..50).

Several processes and several micro-batches (``observe`` / ``modulate``): under
DistributedDataParallel the per-modality score sums of every rank are all-reduced before the ratio
(``distributed=None``: whenever ``torch.distributed`` is initialised with more than one process), so
the ratio, the coefficient and the step log are those of the *global* batch and identical on every
rank; the GE noise is drawn from a generator seeded identically on every rank and applied to the
already all-reduced (identical) gradients, so it is identical too. With gradient accumulation call
``observe`` after each micro-batch's ``backward`` and ``modulate`` once before the optimizer step:
the scores of all micro-batches are pooled and the gradients are modulated once per step. With AMP's
``GradScaler`` call ``scaler.unscale_(optimizer)`` before ``modulate``; the coefficients depend on the
logits only, never on the (scaled) gradients.

With Adam the scaling by k is largely undone by the per-parameter normalisation (a constant k cancels
exactly); only its variation over steps and the GE noise remain. SGD is the paper's optimiser.
"""

from __future__ import annotations

import math
from typing import Mapping

import pandas as pd
import torch
import torch.distributed as torch_dist
from torch import nn

VARIANTS = ("paper", "continuous")
PARAMS = ("conv", "weights", "all")
NOISE_ON = ("all", "dominant")


def coefficient(rho: torch.Tensor | float, alpha: float, variant: str = "paper") -> torch.Tensor:
    """OGM coefficient :math:`k(\\rho)` (elementwise). See the module docstring for the two variants."""
    rho = torch.as_tensor(rho, dtype=torch.float64)
    if variant == "paper":
        return torch.where(rho > 1, 1 - torch.tanh(alpha * rho), torch.ones_like(rho))
    if variant == "continuous":
        return 1 - torch.tanh(alpha * torch.clamp(rho - 1, min=0))
    raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}.")


def scores_and_ratios(branch_logits: Mapping[str, torch.Tensor], y: torch.Tensor) -> tuple[dict, dict]:
    """Per-modality scores :math:`s^u` and discrepancy ratios :math:`\\rho^u` of one mini-batch.

    Parameters
    ----------
    branch_logits : dict of name -> (B, n_classes) tensor
    y : (B,) int64 tensor of labels

    Returns
    -------
    scores, ratios : dict of name -> float
    """
    if len(branch_logits) < 2:
        raise ValueError(f"OGM needs at least two modalities; got {list(branch_logits)}.")
    s = {u: float(v) for u, v in _score_sums(branch_logits, y).items()}
    return s, _ratios(s)


def _score_sums(branch_logits: Mapping[str, torch.Tensor], y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-modality score sums ``{name: 0-d float32 tensor}`` of one (micro-)batch, on the logits' device."""
    with torch.no_grad():
        return {u: torch.softmax(z.float(), dim=1).gather(1, y.view(-1, 1)).sum() for u, z in branch_logits.items()}


def _ratios(s: Mapping[str, float]) -> dict[str, float]:
    for u, v in s.items():
        if not math.isfinite(v):
            raise FloatingPointError(f"the branch score of {u!r} is {v}: the model's logits hold NaN/inf. "
                                     "Lower the learning rate or check the inputs for NaN.")
    ratios = {}
    for u in s:
        others = [s[w] for w in s if w != u]
        ratios[u] = s[u] / max(sum(others) / len(others), 1e-12)
    return ratios


def _param_kinds(module: nn.Module) -> str:
    """The parameter kinds of ``module`` in words, e.g. ``"3-D weight of Conv1d x2, 1-D bias of Conv1d x2"``."""
    from collections import Counter

    kinds: Counter = Counter()
    for sub in module.modules():
        for name, p in sub.named_parameters(recurse=False):
            kinds[f"{p.dim()}-D {name} of {type(sub).__name__}"] += 1
    return ", ".join(f"{k} x{n}" for k, n in kinds.items()) or "no parameters"


def _select(module: nn.Module, params: str) -> list[torch.nn.Parameter]:
    if params == "conv":
        return [p for p in module.parameters() if p.dim() == 4]
    if params == "weights":
        return [p for p in module.parameters() if p.dim() >= 2]
    if params == "all":
        return list(module.parameters())
    raise ValueError(f"params must be one of {PARAMS}; got {params!r}.")


class OGMGE:
    """OGM-GE gradient modulation for the encoders of a late-fusion model.

    Parameters
    ----------
    encoders : dict of name -> nn.Module
        The modality encoders (``model.encoders``); names must match the branch logits.
    alpha : float
        Modulation strength (0.8 recommended for CREMA-D by the authors; 0 disables the scaling).
    variant : {"paper", "continuous"}
    ge : bool
        Add the generalization-enhancement noise (OGM-GE); ``False`` gives plain OGM.
    start_epoch, end_epoch : int
        Inclusive epoch window in which modulation acts (official 0 and 50).
    params : {"conv", "weights", "all"}
    noise_on : {"all", "dominant"}
    generator : torch.Generator, optional
        Source of the GE noise (default: torch's global generator, as the official code).
    log : bool
        Keep a record of every step in :attr:`history` (scores, ratios, coefficients).
    distributed : bool, optional
        All-reduce the score sums over the processes of ``process_group`` before the ratio. ``None``
        (default): when ``torch.distributed`` is initialised with more than one process. Every rank
        must then call :meth:`modulate` (or :meth:`apply`) the same number of times.
    process_group : optional
        The ``torch.distributed`` group to reduce over (default: the whole world).
    """

    def __init__(self, encoders: Mapping[str, nn.Module], alpha: float = 0.8, *, variant: str = "paper",
                 ge: bool = True, start_epoch: int = 0, end_epoch: int = 50, params: str = "conv",
                 noise_on: str = "all", generator: torch.Generator | None = None, log: bool = True,
                 distributed: bool | None = None, process_group=None) -> None:
        if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0; got {alpha!r}.")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}.")
        if noise_on not in NOISE_ON:
            raise ValueError(f"noise_on must be one of {NOISE_ON}; got {noise_on!r}.")
        if start_epoch > end_epoch:
            raise ValueError(f"start_epoch ({start_epoch}) is after end_epoch ({end_epoch}); the window would be empty.")
        if len(encoders) < 2:
            raise ValueError(f"OGM-GE needs at least two modality encoders; got {list(encoders)}.")
        self.alpha, self.variant, self.ge = float(alpha), variant, bool(ge)
        self.start_epoch, self.end_epoch, self.noise_on = int(start_epoch), int(end_epoch), noise_on
        self.params = {u: _select(e, params) for u, e in encoders.items()}
        empty = [u for u, ps in self.params.items() if not ps]
        if empty:
            found = "; ".join(f"{u}: {_param_kinds(encoders[u])}" for u in empty)
            hint = (" params='conv' takes the 4-D weights (Conv2d) only, as the official code does; "
                    "params='weights' takes every weight of 2 or more dimensions (Conv1d, Linear, ...)."
                    if params == "conv" else "")
            raise ValueError(f"params={params!r} selects no parameter of encoder(s) {empty} (found: {found}).{hint}")
        self.generator, self.log = generator, log
        self.distributed, self.process_group = distributed, process_group
        self.history: list[dict] = []
        self._step = 0
        self._pending: dict[str, torch.Tensor] | None = None  # score sums observed since the last modulate
        self._count = 0

    def state_dict(self) -> dict:
        """Step counter and history, for checkpoints."""
        return {"step": self._step, "history": list(self.history)}

    def load_state_dict(self, state: Mapping) -> None:
        self._step, self.history = int(state["step"]), list(state["history"])

    def in_window(self, epoch: int) -> bool:
        return self.start_epoch <= epoch <= self.end_epoch

    def coefficients(self, branch_logits: Mapping[str, torch.Tensor], y: torch.Tensor) -> tuple[dict, dict, dict]:
        """``(scores, ratios, coefficients)`` of one mini-batch, each a dict keyed by modality."""
        missing = set(self.params) - set(branch_logits)
        if missing:
            raise ValueError(f"branch logits lack modalities {sorted(missing)}; got {sorted(branch_logits)}.")
        s, rho = scores_and_ratios({u: branch_logits[u] for u in self.params}, y)
        k = {u: float(coefficient(rho[u], self.alpha, self.variant)) for u in self.params}
        return s, rho, k

    def _reduce(self) -> bool:
        if self.distributed is not None:
            if self.distributed and not torch_dist.is_initialized():
                raise RuntimeError("OGMGE(distributed=True) needs torch.distributed initialised "
                                   "(torch.distributed.init_process_group, e.g. under torchrun).")
            return bool(self.distributed)
        return torch_dist.is_available() and torch_dist.is_initialized() and \
            torch_dist.get_world_size(self.process_group) > 1

    @torch.no_grad()
    def observe(self, branch_logits: Mapping[str, torch.Tensor], y: torch.Tensor) -> None:
        """Add one (micro-)batch's score sums to those pooled for the next :meth:`modulate`.

        Parameters
        ----------
        branch_logits : dict of name -> (B, n_classes) tensor
        y : (B,) int64 tensor of labels
        """
        missing = set(self.params) - set(branch_logits)
        if missing:
            raise ValueError(f"branch logits lack modalities {sorted(missing)}; got {sorted(branch_logits)}.")
        if len(self.params) < 2:
            raise ValueError(f"OGM needs at least two modalities; got {list(self.params)}.")
        sums = _score_sums({u: branch_logits[u] for u in self.params}, y)
        if self._pending is None:
            self._pending = sums
        else:
            self._pending = {u: self._pending[u] + sums[u] for u in sums}
        self._count += len(y)

    @torch.no_grad()
    def modulate(self, epoch: int) -> dict[str, float]:
        """Modulate the gradients once, from the scores pooled by :meth:`observe` since the last call.

        Under ``torch.distributed`` (see ``distributed``) the pooled score sums and sample counts are
        all-reduced first, so every rank uses the coefficients of the global batch. Returns the
        coefficients used (all 1.0 outside the window).
        """
        if self._pending is None:
            raise RuntimeError("OGMGE.modulate() before observe(): call observe(branch_logits, y) after each "
                               "micro-batch's backward, then modulate(epoch) once before optimizer.step().")
        names = list(self.params)
        if self._reduce():
            t = torch.stack([self._pending[u].to(torch.float64) for u in names]
                            + [self._pending[names[0]].new_tensor(self._count, dtype=torch.float64)])
            torch_dist.all_reduce(t, op=torch_dist.ReduceOp.SUM, group=self.process_group)
            vals = t.tolist()
            s, count = dict(zip(names, vals[:-1])), int(round(vals[-1]))
        else:
            s, count = {u: float(self._pending[u]) for u in names}, self._count
        self._pending, self._count = None, 0
        rho = _ratios(s)
        k = {u: float(coefficient(rho[u], self.alpha, self.variant)) for u in self.params}
        return self._modulate(s, rho, k, count, epoch)

    @torch.no_grad()
    def apply(self, branch_logits: Mapping[str, torch.Tensor], y: torch.Tensor, epoch: int) -> dict[str, float]:
        """Modulate the encoders' gradients in place (call after ``backward``, before ``step``).

        ``observe`` followed by ``modulate``. Returns the coefficients used (all 1.0 outside the window).
        """
        if self._pending is not None:
            raise RuntimeError("apply() while observed micro-batches await modulate(); with gradient "
                               "accumulation call observe() per micro-batch and modulate() once per step.")
        self.observe(branch_logits, y)
        return self.modulate(epoch)

    def _modulate(self, s: dict, rho: dict, k: dict, count: int, epoch: int) -> dict[str, float]:
        active = self.in_window(epoch)
        if active:
            for u, ps in self.params.items():
                noisy = self.ge and (self.noise_on == "all" or k[u] < 1)
                for p in ps:
                    if p.grad is None:
                        continue
                    g = p.grad
                    if noisy:  # std stays a device tensor: no host sync per parameter
                        std = (g.float().std() if g.numel() > 1 else g.new_zeros((), dtype=torch.float32)) + 1e-8
                        noise = torch.randn(g.shape, generator=self.generator, device=g.device, dtype=g.dtype)
                        p.grad = g * k[u] + noise * std.to(g.dtype)
                    elif k[u] != 1.0:
                        g.mul_(k[u])
        if self.log:
            row = {"step": self._step, "epoch": int(epoch), "active": active}
            for u in self.params:
                row[f"score_{u}"], row[f"ratio_{u}"], row[f"coeff_{u}"] = s[u] / count, rho[u], k[u]
            self.history.append(row)
        self._step += 1
        return k if active else {u: 1.0 for u in k}

    def history_frame(self) -> pd.DataFrame:
        """The logged steps as a tidy DataFrame (scores are per-sample means)."""
        return pd.DataFrame(self.history)
