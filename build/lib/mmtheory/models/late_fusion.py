r"""Late-fusion classifiers with a per-modality view of the head, for OGM-GE.

A late-fusion model is ``head(phi^1(x^1), ..., phi^K(x^K))``. OGM-GE needs, for every modality u,
a *branch* prediction that uses only ``phi^u``. How to get it depends on the fusion:

``concat``  ``W = [W^1 ... W^K]``; branch u is ``W^u phi^u + b/K`` (the paper's split, b/2 for two
            modalities, exactly the official code).
``sum``     ``sum_u (W_u phi^u + b_u)``; branch u is ``W_u phi^u + b_u`` (official training code; its
            evaluation code uses ``b_u / 2`` instead, an inconsistency we do not copy: the full bias
            is used in both).
``film``    ``W (gamma(phi^c) * phi^o + beta(phi^c)) + b`` (two modalities, c conditions o).
``gated``   ``W (sigmoid(A phi^c) * (B phi^o)) + b`` (two modalities, c gates o).

For FiLM and gated fusion the head sees one fused vector, so the official code's slicing of its
weight into halves has no meaning. Our definition (open in the paper): branch u is the head applied
with every *other* modality's features replaced by their batch mean (``branch="mean"``), i.e. what
the head predicts from u alone when the others carry no sample-specific information. It is also
available for concat and sum. All modules take and return dicts keyed by modality name.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

FUSIONS = ("concat", "sum", "film", "gated")
#: How a fusion head's linear layers start: ``"xavier"`` (the official OGM-GE code's ``weight_init``:
#: Xavier-normal weights, zero biases; the default) or ``"torch"`` (PyTorch's ``nn.Linear`` default,
#: uniform in +-1/sqrt(fan_in) for weights and biases).
HEAD_INITS = ("xavier", "torch")


def init_head(module: nn.Module, how: str = "xavier") -> nn.Module:
    """Initialise every ``nn.Linear`` of ``module`` (a fusion head) in place and return it.

    Parameters
    ----------
    module : nn.Module
    how : {"xavier", "torch"}
        ``"xavier"``: ``xavier_normal_`` weights and zero biases, as ``utils.weight_init`` of the official
        OGM-GE code applies to the whole model (its encoders have no linear layers, so only the head is
        affected). ``"torch"``: leave PyTorch's default initialisation. Draws come from torch's global
        generator (seed it with ``torch.manual_seed``).
    """
    if how not in HEAD_INITS:
        raise ValueError(f"head_init must be one of {list(HEAD_INITS)}; got {how!r}.")
    if how == "xavier":
        for m in module.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return module


class _Fusion(nn.Module):
    names: tuple[str, ...]

    def fuse(self, feats: Mapping[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = [n for n in self.names if n not in feats]
        if missing:
            raise ValueError(f"fusion head needs features of {list(self.names)}; missing {missing}.")
        return self.fuse(feats)

    def split_logits(self, feats: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise ValueError(f"{type(self).__name__} has no split branch scores; use branch='mean'.")

    def branch_logits(self, feats: Mapping[str, torch.Tensor], branch: str = "auto") -> dict[str, torch.Tensor]:
        """Per-modality logits ``{name: (B, n_classes)}``.

        Parameters
        ----------
        feats : dict of name -> (B, d_name) tensor
        branch : {"auto", "split", "mean"}
            ``split``: the head's own per-modality part (concat, sum); ``mean``: the head with the other
            modalities at their batch mean (detached); ``auto``: split where defined, else mean.
        """
        if branch == "auto":
            branch = "split" if isinstance(self, (ConcatFusion, SumFusion)) else "mean"
        if branch == "split":
            return self.split_logits(feats)
        if branch != "mean":
            raise ValueError(f"branch must be 'auto', 'split' or 'mean'; got {branch!r}.")
        means = {n: feats[n].detach().mean(0, keepdim=True).expand_as(feats[n]) for n in self.names}
        return {u: self.fuse({n: (feats[n] if n == u else means[n]) for n in self.names}) for u in self.names}


class ConcatFusion(_Fusion):
    """``Linear(concat_u phi^u)``; ``dims``: feature size per modality (in order)."""

    def __init__(self, dims: Mapping[str, int], n_classes: int) -> None:
        super().__init__()
        self.names, self.dims = tuple(dims), dict(dims)
        self.fc_out = nn.Linear(sum(self.dims.values()), n_classes)

    def fuse(self, feats):
        return self.fc_out(torch.cat([feats[n] for n in self.names], dim=1))

    def split_logits(self, feats):
        out, start, w, b = {}, 0, self.fc_out.weight, self.fc_out.bias
        for n in self.names:
            d = self.dims[n]
            out[n] = feats[n] @ w[:, start:start + d].T + b / len(self.names)
            start += d
        return out


class SumFusion(_Fusion):
    """``sum_u Linear_u(phi^u)``."""

    def __init__(self, dims: Mapping[str, int], n_classes: int) -> None:
        super().__init__()
        self.names = tuple(dims)
        self.fc = nn.ModuleDict({n: nn.Linear(d, n_classes) for n, d in dims.items()})

    def fuse(self, feats):
        return sum(self.fc[n](feats[n]) for n in self.names)

    def split_logits(self, feats):
        return {n: self.fc[n](feats[n]) for n in self.names}


def _two(dims: Mapping[str, int], conditioner: str | None, kind: str) -> tuple[str, str]:
    names = tuple(dims)
    if len(names) != 2:
        raise ValueError(f"{kind} fusion is defined for two modalities; got {list(names)}. Use concat or sum for more.")
    c = names[0] if conditioner is None else conditioner
    if c not in names:
        raise ValueError(f"conditioner {c!r} is not one of the modalities {list(names)}.")
    return c, names[1] if c == names[0] else names[0]


class FiLMFusion(_Fusion):
    """FiLM (Perez et al. 2018): ``Linear(gamma(phi^c) * phi^o + beta(phi^c))``, ``c`` = ``conditioner``."""

    def __init__(self, dims: Mapping[str, int], n_classes: int, conditioner: str | None = None) -> None:
        super().__init__()
        self.names = tuple(dims)
        self.cond, self.other = _two(dims, conditioner, "FiLM")
        self.dim = dims[self.other]
        self.fc = nn.Linear(dims[self.cond], 2 * self.dim)
        self.fc_out = nn.Linear(self.dim, n_classes)

    def fuse(self, feats):
        gamma, beta = torch.split(self.fc(feats[self.cond]), self.dim, dim=1)
        return self.fc_out(gamma * feats[self.other] + beta)


class GatedFusion(_Fusion):
    """Gated fusion (Kiela et al. 2018): ``Linear(sigmoid(A phi^c) * (B phi^o))``."""

    def __init__(self, dims: Mapping[str, int], n_classes: int, conditioner: str | None = None,
                 hidden: int | None = None) -> None:
        super().__init__()
        self.names = tuple(dims)
        self.cond, self.other = _two(dims, conditioner, "gated")
        hidden = hidden or dims[self.other]
        self.fc_gate = nn.Linear(dims[self.cond], hidden)
        self.fc_value = nn.Linear(dims[self.other], hidden)
        self.fc_out = nn.Linear(hidden, n_classes)

    def fuse(self, feats):
        return self.fc_out(torch.sigmoid(self.fc_gate(feats[self.cond])) * self.fc_value(feats[self.other]))


def make_fusion(kind: str, dims: Mapping[str, int], n_classes: int, *, init: str = "xavier", **kwargs) -> _Fusion:
    """Fusion head by name: one of :data:`FUSIONS`, initialised by :func:`init_head` (``init``)."""
    classes = dict(concat=ConcatFusion, sum=SumFusion, film=FiLMFusion, gated=GatedFusion)
    if kind not in classes:
        raise ValueError(f"unknown fusion {kind!r}; choose one of {list(FUSIONS)}.")
    if init not in HEAD_INITS:
        raise ValueError(f"head_init must be one of {list(HEAD_INITS)}; got {init!r}.")
    return init_head(classes[kind](dims, n_classes, **kwargs), init)


def infer_out_features(encoder: nn.Module, name: str = "encoder") -> int:
    """The feature size an encoder outputs, read from the module without running it.

    In order: the module's own ``out_features`` (or ``out_dim``/``dim_out``); else the last submodule
    (in registration order) that has ``out_features`` (``nn.Linear``) or ``out_channels`` (a convolution,
    when it is followed only by pooling/flattening/activations). Raises with what to pass when neither exists.
    """
    for attr in ("out_features", "out_dim", "dim_out"):
        if isinstance(getattr(encoder, attr, None), int):
            return int(getattr(encoder, attr))
    last = None
    for sub in encoder.modules():
        if sub is encoder:
            continue
        if isinstance(getattr(sub, "out_features", None), int) or isinstance(getattr(sub, "out_channels", None), int):
            last = sub
    if last is not None:
        size = getattr(last, "out_features", None)
        return int(size if isinstance(size, int) else last.out_channels)
    raise ValueError(f"cannot infer the feature size of the {name!r} encoder ({type(encoder).__name__}: no "
                     "out_features attribute and no Linear or convolution inside); pass dims={"
                     f"{name!r}: <features per sample>, ...}} to LateFusionClassifier.")


class LateFusionClassifier(nn.Module):
    """``encoders[u](x^u) -> phi^u``, then a fusion head.

    Parameters
    ----------
    encoders : dict of name -> nn.Module
        Each maps its modality's batch to ``(B, features)``. The feature size is read from the module
        (:func:`infer_out_features`: its ``out_features``, else its last ``Linear``/convolution, so an
        ``nn.Sequential`` works as is); pass ``dims`` when that is not the output size.
    n_classes : int
    fusion : str
        One of :data:`FUSIONS`.
    dims : dict of name -> int, optional
        Feature sizes per modality; overrides the inferred ones.
    branch : {"auto", "split", "mean"}
        How :meth:`branch_logits` defines a modality's own prediction (see the module docstring).
    head_init : {"xavier", "torch"}
        Initialisation of the fusion head (:func:`init_head`); default the official code's Xavier-normal
        weights with zero biases.
    """

    def __init__(self, encoders: Mapping[str, nn.Module], n_classes: int, fusion: str = "concat",
                 dims: Mapping[str, int] | None = None, branch: str = "auto", head_init: str = "xavier",
                 **fusion_kwargs) -> None:
        super().__init__()
        if not encoders:
            raise ValueError("encoders is empty; pass a dict mapping modality name to an encoder module.")
        self.encoders = nn.ModuleDict(dict(encoders))
        dims = dict(dims) if dims is not None else {n: infer_out_features(e, n) for n, e in encoders.items()}
        missing = [n for n in encoders if n not in dims]
        if missing:
            raise ValueError(f"dims lacks modalities {missing}; pass a feature size for each of {list(encoders)}.")
        self.names = tuple(encoders)
        self.fusion_name, self.branch, self.head_init = fusion, branch, head_init
        self.fusion = make_fusion(fusion, {n: dims[n] for n in self.names}, n_classes, init=head_init,
                                  **fusion_kwargs)

    def encode(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        missing = [n for n in self.names if n not in inputs]
        if missing:
            raise ValueError(f"inputs lack modalities {missing}; the model expects {list(self.names)}.")
        return {n: self.encoders[n](inputs[n]) for n in self.names}

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Return ``(features, logits)``: features per modality and the fused ``(B, n_classes)`` logits."""
        feats = self.encode(inputs)
        return feats, self.fusion(feats)

    def branch_logits(self, feats: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each modality's own logits (see :meth:`_Fusion.branch_logits`)."""
        return self.fusion.branch_logits({k: v.float() for k, v in feats.items()}, self.branch)


class MLPEncoder(nn.Module):
    """Small encoder for the CPU stand-in: ``Linear -> ReLU -> Linear -> ReLU``."""

    def __init__(self, in_features: int, hidden: int = 64, out_features: int = 32) -> None:
        super().__init__()
        self.out_features = out_features
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def audio_visual_resnet18(n_classes: int = 6, fusion: str = "concat", width: int = 64, **kwargs) -> LateFusionClassifier:
    """The OGM-GE CREMA-D model: ResNet-18 audio and visual encoders, 512-d each, a fusion head."""
    from mmtheory.models.resnet import AudioEncoder, VisualEncoder

    return LateFusionClassifier({"audio": AudioEncoder(width), "visual": VisualEncoder(width)}, n_classes, fusion, **kwargs)
