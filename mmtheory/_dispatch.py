"""CPU dispatch pinned to one code path, so a committed number is the same on every x86-64 machine.

MKL (torch's BLAS/LAPACK), torch's own vectorised kernels (ATen) and oneDNN pick their kernels per CPU
at run time: an AVX-512 machine sums in another order than an AVX2 one, and over 60 epochs of training
such last-bit differences reach the printed digits. This module fixes all three to one path that every
x86-64 CPU of the last decade has:

``MKL_CBWR=COMPATIBLE,STRICT``
    MKL's conditional numerical reproducibility on its vendor-neutral path, with results independent of
    the arrays' memory alignment. Not ``AVX2``: MKL honours its ISA branches only on Intel CPUs; on an
    AMD EPYC, ``MKL_VERBOSE=1`` shows ``MKL_CBWR=AVX2`` silently run as ``CNR:AUTO`` (the native path),
    while ``COMPATIBLE`` is honoured on both vendors.
``ATEN_CPU_CAPABILITY=avx2``
    torch's CPU kernels (reductions, element-wise ops, ...) at the AVX2 level (Intel from Haswell, 2013;
    AMD from Zen, 2017; torch falls back to its default kernels on a CPU without AVX2).
``ONEDNN_MAX_CPU_ISA=AVX2``
    oneDNN (torch's convolutions on the CPU) limited to AVX2.

These are read when each library first runs a kernel, so they must be in the environment before numpy
or torch compute anything: :func:`pin` runs when ``mmtheory`` is imported (``mmtheory/__init__.py``),
and ``scripts/_env.sh`` exports :func:`shell_exports` for every process the build and the tests start
(papermill kernels and Dask workers inherit it). A variable the user set already is left as it is.

Not pinned, on purpose: OpenBLAS (numpy's and scipy's BLAS) picks its kernel per CPU too, but its
switch ``OPENBLAS_CORETYPE`` (and ``OPENBLAS_L2_SIZE``) is what some machines must set because older
OpenBLAS builds compute wrong results there; we never override it. Its differences, and those of arm64
machines, GPUs and other torch builds, are covered by the tolerances of :mod:`mmtheory.tolerance`.

Turning it off: ``MMTHEORY_NATIVE_DISPATCH=1`` leaves every library on its fastest path for the CPU
(README: what it costs and what a user then loses).
"""

from __future__ import annotations

import os
import platform
from typing import MutableMapping

#: The pinned settings (x86-64 only: these switches mean nothing elsewhere).
PINNED: dict[str, str] = {
    "MKL_CBWR": "COMPATIBLE,STRICT",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}

#: Environment variable that, set to 1/true/yes, leaves the dispatch native (fastest, per CPU).
NATIVE_ENV = "MMTHEORY_NATIVE_DISPATCH"

#: Never set by this module (see the module docstring).
LEFT_ALONE = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _native(environ: MutableMapping[str, str]) -> bool:
    return environ.get(NATIVE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def is_x86_64(machine: str | None = None) -> bool:
    """Whether the machine is x86-64 (the only kind the pinned switches apply to)."""
    return (machine or platform.machine()).lower() in {"x86_64", "amd64", "x64"}


def wanted(environ: MutableMapping[str, str] | None = None, machine: str | None = None) -> dict[str, str]:
    """The variables :func:`pin` would set: ``{}`` when native dispatch is asked for or off x86-64."""
    environ = os.environ if environ is None else environ
    if _native(environ) or not is_x86_64(machine):
        return {}
    return dict(PINNED)


def pin(environ: MutableMapping[str, str] | None = None, machine: str | None = None) -> dict[str, str]:
    """Set the pinned dispatch variables in ``environ`` (default ``os.environ``) unless already set.

    Returns
    -------
    dict
        The dispatch variables as they now stand (set here or by the user before).
    """
    environ = os.environ if environ is None else environ
    out = {}
    for key, value in wanted(environ, machine).items():
        environ.setdefault(key, value)
        out[key] = environ[key]
    if environ is os.environ and out.get("ATEN_CPU_CAPABILITY") == PINNED["ATEN_CPU_CAPABILITY"]:
        _warn_if_torch_ran_first()
    return out


def _warn_if_torch_ran_first() -> None:
    """torch fixes its kernels when it first dispatches one: if that happened before ``import mmtheory``,
    the pinned capability is not in force, and the numbers may differ from the book's in the last bits."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        cap = torch.backends.cpu.get_cpu_capability()  # computed now (with the pin) unless torch already ran
    except Exception:  # pragma: no cover - a torch without the query
        return
    if cap not in ("AVX2", "DEFAULT"):
        import warnings

        warnings.warn(f"torch ran on its native CPU kernels ({cap}) before mmtheory pinned them to AVX2: import "
                      "mmtheory before torch computes anything (or source scripts/_env.sh) to reproduce the book's "
                      "numbers bit for bit; otherwise they agree within mmtheory.tolerance.", RuntimeWarning,
                      stacklevel=3)


def shell_exports(environ: MutableMapping[str, str] | None = None, machine: str | None = None) -> str:
    """``export NAME=value`` lines for a POSIX shell (what ``scripts/_env.sh`` evaluates)."""
    import shlex

    environ = dict(os.environ if environ is None else environ)
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in pin(environ, machine).items())


def describe() -> dict[str, str]:
    """What the current process runs on: torch's CPU capability and each dispatch variable (for reports)."""
    out = {k: os.environ.get(k, "") for k in (*PINNED, *LEFT_ALONE, NATIVE_ENV)}
    try:
        import torch

        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:  # pragma: no cover - torch is a dependency
        out["torch_cpu_capability"] = "unknown"
    return out


