"""The embedded default cohort: BraTS-like tumours and IXI-like healthy heads built on real template anatomy.

Taught in ``01_data_exploration``. Written in the real BraTS 2019 and IXI layouts, so ``prepare`` reads it exactly
as it reads the real data.
"""

from .cohort import CohortSpec, generate_cohort

__all__ = ["CohortSpec", "generate_cohort"]
