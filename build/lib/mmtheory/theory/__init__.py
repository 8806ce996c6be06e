"""Closed-form and estimated quantities of the theory paper (Huang et al. 2021).

Theory code computes; it never trains (it must not import :mod:`mmtheory.train` or torch models).
"""

from mmtheory.theory.selection import Selection, select_modalities

__all__ = ["Selection", "select_modalities"]
