"""Parameters declared once: name, type, default, allowed values; the one validator and its wording.

A :class:`Param` says what a setting is; :func:`check` is the one place a value is judged, without
coercion (``1.5`` is not an integer, ``"0.5"`` is not a number, ``true`` is not a seed) and with one
wording (``"<where>: <name> must be <what>; got <value>."``). Tables built from it drive the grid
runner's allowed keys and types (:data:`GRID_PARAMS`), and the command line's choices and defaults
of ``train`` (:data:`CREMAD`, the official CREMA-D recipe, written nowhere else).

This module imports nothing of mmtheory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

#: Marks a parameter without default (a grid must set it).
REQUIRED = object()

_KINDS = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class Param:
    """One setting.

    Attributes
    ----------
    name : str
    kind : {int, float, str, bool}
        ``float`` accepts integers (``ratio = 1`` is ``1.0``); ``int`` accepts only integers; no kind
        accepts a boolean but ``bool``.
    default : any
        :data:`REQUIRED` when there is none; ``None`` allowed where the function takes ``None``.
    choices : tuple, optional
        Allowed values.
    low, high : float, optional
        Bounds; ``low_open``/``high_open`` make them strict.
    help : str
    """

    name: str
    kind: type
    default: Any = REQUIRED
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        """What a valid value is, in words (the message's ``must be ...``)."""
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        what = _KINDS[self.kind]
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return what + (" " + " and ".join(bounds) if bounds else "")


def check(param: Param, value: Any, where: str = "") -> Any:
    """Return ``value`` (integers as floats for a ``float`` parameter) if valid; else one ``ValueError``."""
    prefix = f"{where}: " if where else ""

    def bad() -> ValueError:
        return ValueError(f"{prefix}{param.name} must be {param.describe()}; got {value!r}.")

    if value is None and param.default is None:
        return None
    if param.kind is bool:
        if not isinstance(value, bool):
            raise bad()
    elif isinstance(value, bool):
        raise bad()
    elif param.kind is int:
        if not isinstance(value, int):
            raise bad()
    elif param.kind is float:
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad()
        value = float(value)
    elif param.kind is str:
        if not isinstance(value, str):
            raise bad()
    if param.choices is not None and value not in param.choices:
        raise bad()
    if param.low is not None and (value < param.low or (param.low_open and value == param.low)):
        raise bad()
    if param.high is not None and (value > param.high or (param.high_open and value == param.high)):
        raise bad()
    return value


def table(*params: Param) -> dict[str, Param]:
    """``{name: Param}`` of the given parameters (names must be unique)."""
    out = {p.name: p for p in params}
    if len(out) != len(params):
        raise ValueError("a parameter table names a parameter twice.")
    return out


def defaults(params: Mapping[str, Param]) -> dict[str, Any]:
    """The default of every parameter that has one."""
    return {k: p.default for k, p in params.items() if not p.required}


METHODS = ("baseline", "ogm", "ogm-ge")
FUSIONS = ("concat", "sum", "film", "gated")
OPTIMIZERS = ("sgd", "adam")

#: The official CREMA-D recipe and every other setting of one CREMA-D run (the ``train`` command,
#: the ``cremad`` grid experiment): declared here only.
CREMAD = table(
    Param("method", str, "ogm-ge", choices=METHODS),
    Param("modalities", str, "audio+visual", choices=("audio+visual", "audio", "visual"),
          help="a single modality trains the unimodal baseline"),
    Param("fusion", str, "concat", choices=FUSIONS),
    Param("epochs", int, 100, low=1),
    Param("batch_size", int, 64, low=1),
    Param("optimizer", str, "sgd", choices=OPTIMIZERS),
    Param("lr", float, 1e-3, low=0, low_open=True),
    Param("lr_step", int, 70, low=1, help="StepLR period in epochs (default 70)"),
    Param("lr_gamma", float, 0.1, low=0, low_open=True),
    Param("alpha", float, 0.8, low=0, help="OGM strength (0.8 for CREMA-D, official README)"),
    Param("variant", str, "paper", choices=("paper", "continuous"), help="coefficient form"),
    Param("modulation_start", int, 0, low=0),
    Param("modulation_end", int, 50, low=0),
    Param("params", str, "conv", choices=("conv", "weights", "all"),
          help="encoder parameters whose gradients are modulated (official: conv weights)"),
    Param("noise_on", str, "all", choices=("all", "dominant"),
          help="GE noise on both encoders (official) or the dominant one"),
    Param("split", str, "official", choices=("official", "actors")),
    Param("width", int, 64, low=1, help="ResNet-18 base width (64 = the real ResNet-18)"),
    Param("head_init", str, "xavier", choices=("xavier", "torch"),
          help="fusion head initialisation: xavier (official: Xavier-normal weights, zero bias) or torch's default"),
    Param("device", str, "auto", help="auto (CUDA if available), cpu, cuda, cuda:1, ..."),
    Param("preload", bool, False, help="copy the cache split to the device once"),
    Param("seed", int, 0, low=0),
)

#: Settings of the stand-in OGM-GE experiment (``run_standin``, one method and seed per run).
STANDIN = table(
    Param("method", str, choices=METHODS),
    Param("seed", int, 0, low=0),
    Param("n_train", int, 400, low=2),
    Param("n_test", int, 3000, low=1),
    Param("epochs", int, 60, low=1),
    Param("lr", float, 0.01, low=0, low_open=True),
    Param("batch_size", int, 64, low=1),
    Param("alpha", float, 0.8, low=0),
    Param("modulation_end", int, None, low=0),
    Param("hidden", int, 64, low=1),
    Param("features", int, 32, low=1),
    Param("fusion", str, "concat", choices=FUSIONS),
    Param("optimizer", str, "sgd", choices=OPTIMIZERS),
)

#: Settings of one (set, ratio, seed) run of ``modality_sweep``; ``set`` is checked against the data's
#: modality names, other keywords of the function are typed here.
MODALITY_SWEEP = table(
    Param("set", str, help="modalities joined by '+', e.g. 'text+audio'"),
    Param("ratio", float, 1.0, low=0, high=1, low_open=True, help="fraction of the training pool"),
    Param("seed", int, 0, low=0, help="subsample seed"),
    Param("init_seed", int, 0, low=0, help="initialisation seed (the function's seed)"),
    Param("hidden", int, 128, low=1),
    Param("epochs", int, 50, low=1),
    Param("lr", float, 0.01, low=0, low_open=True),
    Param("batch_size", int, 2048, low=1),
    Param("min_samples", int, 1, low=1),
    Param("refit_epochs", int, 30, low=0),
    Param("probe_fraction", float, 0.2, low=0, high=1, low_open=True, high_open=True),
    Param("standardize", bool, True),
    Param("compute", str, "grouped", choices=("grouped", "masked")),
)

#: Grid experiment -> its settings.
GRID_PARAMS: dict[str, dict[str, Param]] = {"modality_sweep": MODALITY_SWEEP, "standin": STANDIN, "cremad": CREMAD}
