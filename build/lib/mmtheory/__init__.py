"""mmtheory: executable companion to two papers on multimodal learning.

* Huang et al., "What Makes Multi-modal Learning Better than Single (Provably)", NeurIPS 2021.
* Peng et al., "Balanced Multimodal Learning via On-the-fly Gradient Modulation", CVPR 2022.

Subpackages (each imports only what is listed beside it):

``mmtheory.data``         data generators and readers (numpy only)
``mmtheory.theory``       closed-form quantities of the theory paper (numpy/scipy; never imports ``train``)
``mmtheory.models``       torch modules (late-fusion models)
``mmtheory.train``        training loops (torch)
``mmtheory.experiments``  the paper's experiments as functions returning tidy DataFrames
``mmtheory.claims``       the registry of the papers' claims and our reproduction status
"""

from mmtheory import _dispatch

# Before numpy or torch compute anything: one CPU code path on every x86-64 machine (see mmtheory._dispatch;
# MMTHEORY_NATIVE_DISPATCH=1 turns it off).
_dispatch.pin()

__version__ = "0.1.0"

__all__ = ["__version__"]
