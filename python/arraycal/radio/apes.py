#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""``apes(x, L, nfft)``: forward-backward APES spectrum from the C++ kernel."""

import warnings

import numpy as np

from ..arraycal_python import apes_estimator


def apes(x, L, nfft):
    """Complex amplitude estimate at w_k = 2 pi k / nfft for every k < nfft.

    Textbook forward-backward APES (backward data conjugated). For
    ``x[n] = alpha * exp(2j*pi*k0*n/nfft)`` the value at ``k0`` is ``alpha``.
    ``L`` is the filter length (1 <= L < len(x)). Noise-free or otherwise
    rank-deficient data are regularised by diagonal loading, with a
    RuntimeWarning saying so; all-zero data give zeros.
    """
    x = np.ascontiguousarray(np.asarray(x, dtype=np.complex128).ravel())
    if x.size < 2:
        raise ValueError("apes: need at least 2 samples")
    if not np.all(np.isfinite(x)):
        raise ValueError("apes: data contain NaN or Inf")
    L = int(L)
    nfft = int(nfft)
    if nfft < 1:
        raise ValueError("apes: nfft must be >= 1")
    est = apes_estimator(x.size, L)
    est.fit(x)
    if est.regularised():
        warnings.warn(
            f"apes: covariance is (nearly) singular (noise-free or too few distinct "
            f"components for L={L}); diagonal loading {est.loading():.0e} x trace/L applied",
            RuntimeWarning, stacklevel=2)
    return est.spectrum(nfft)
