#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Independent numpy forward-backward APES, straight from the textbook formula.

No fast tricks: Hankel data matrix, explicit covariance, explicit Q(w) and
its inverse at every frequency. Used by the tests as the reference the C++
kernel must equal, and (in the thesis's style, backward data NOT
conjugated) as the baseline of the benchmark.
"""

import numpy as np


def snapshots(x, L):
    """L x S Hankel matrix of forward snapshots y_l = x[l .. l+L-1]."""
    S = len(x) - L + 1
    return np.lib.stride_tricks.sliding_window_view(np.asarray(x), L)[:S].T


def fb_apes_textbook(x, L, omegas, conjugate_backward=True):
    """alpha(w) = a^H Q^-1 g_f / (a^H Q^-1 a), Q = R_fb - (g_f g_f^H + g_b g_b^H)/2."""
    x = np.asarray(x, dtype=np.complex128)
    Y = snapshots(x, L)
    S = Y.shape[1]
    # backward snapshots J conj(y_{S-1-l}) (the thesis's apes.m drops the conj)
    Yb = Y[::-1, ::-1]
    if conjugate_backward:
        Yb = Yb.conj()
    R = 0.5 * (Y @ Y.conj().T + Yb @ Yb.conj().T) / S
    out = np.empty(len(omegas), dtype=np.complex128)
    n = np.arange(L)
    ell = np.arange(S)
    for i, w in enumerate(omegas):
        e = np.exp(-1j * w * ell)
        gf = Y @ e / S
        gb = Yb @ e / S
        Q = R - 0.5 * (np.outer(gf, gf.conj()) + np.outer(gb, gb.conj()))
        a = np.exp(1j * w * n)
        Qi_a = np.linalg.solve(Q, a)
        Qi_g = np.linalg.solve(Q, gf)
        out[i] = (a.conj() @ Qi_g) / (a.conj() @ Qi_a)
    return out


def thesis_style_apes(x, L, omegas):
    """The thesis's apes.m as docs/design.md describes it, ported to numpy: FB-APES
    with the backward data not conjugated, R inverted once, then a loop over
    the frequency grid with the rank-2 update by the matrix inversion lemma."""
    x = np.asarray(x, dtype=np.complex128)
    Y = snapshots(x, L)
    S = Y.shape[1]
    Yb = Y[::-1, ::-1]  # no conj: the thesis's omission
    R = 0.5 * (Y @ Y.conj().T + Yb @ Yb.conj().T) / S
    Ri = np.linalg.inv(R)
    n = np.arange(L)
    ell = np.arange(S)
    out = np.empty(len(omegas), dtype=np.complex128)
    for i, w in enumerate(omegas):
        e = np.exp(-1j * w * ell)
        G = np.stack([Y @ e / S, Yb @ e / S], axis=1) / np.sqrt(2)
        a = np.exp(1j * w * n)
        RiG = Ri @ G
        Qi = Ri + RiG @ np.linalg.inv(np.eye(2) - G.conj().T @ RiG) @ RiG.conj().T
        out[i] = (a.conj() @ Qi @ (np.sqrt(2) * G[:, 0])) / (a.conj() @ Qi @ a)
    return out
