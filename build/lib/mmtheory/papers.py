"""The papers' published numbers, typed once here (and only here) so chapters and claims can cite them.

Sources: ``shared/papers.md`` (the project's spec of both papers).
"""

from __future__ import annotations

#: Huang et al. (2021), synthetic experiment: eta (MSE) by modality set and overlap w.
HUANG_SYNTHETIC_W = (1.0, 0.8, 0.5, 0.2, 0.0)
HUANG_SYNTHETIC_ETA = {
    "m1": (0.0, 12.04, 75.89, 193.28, 301.92),
    "m1,m2": (0.0, 8.16, 51.25, 129.81, 207.45),
    "m1,m2,m3": (0.0, 4.18, 26.06, 65.17, 103.23),
    "m1,m2,m3,m4": (0.0, 0.0, 0.0, 0.0, 0.0),
}

#: Huang et al. (2021), IEMOCAP Table 1: test accuracy (%) mean and std.
HUANG_IEMOCAP_TABLE1 = {"T": (49.93, 0.57), "TV": (51.08, 0.66), "TA": (53.03, 0.21), "TVA": (53.89, 0.47)}

#: Huang et al. (2021), IEMOCAP Table 2: test accuracy (%) by fraction of training data.
HUANG_IEMOCAP_RATIOS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
HUANG_IEMOCAP_TABLE2 = {
    "T": (23.66, 29.08, 45.63, 48.30, 49.93),
    "TA": (25.06, 34.28, 47.28, 50.46, 53.03),
    "TV": (24.71, 38.37, 46.54, 49.50, 51.08),
    "TVA": (24.71, 32.24, 46.39, 50.75, 53.89),
}

#: Huang et al. (2021), IEMOCAP Table 3: (M, N) -> (test-accuracy difference, latent-quality difference).
HUANG_IEMOCAP_TABLE3 = {
    ("TV", "T"): (1.15, 1.36),
    ("TA", "T"): (3.10, 3.57),
    ("TVA", "TA"): (0.86, 0.19),
    ("TVA", "TV"): (2.81, 2.4),
}

#: Peng et al. (2022), top-1 accuracy (%) on CREMA-D.
PENG_CREMAD = {"audio-only": 54.4, "concat baseline": 51.7, "concat + OGM-GE": 61.9}
