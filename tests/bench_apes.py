#!/usr/bin/python3
#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""APES LoS estimates per second, single thread, side by side in one run.

    /usr/bin/python3 tests/bench_apes.py

The thesis's settings: CFR of N = 1278 bins, filter length L = 200 and 320,
resolution x10 (grid of 0.1 samples). One LoS estimate:
  C++      cir_los with APES (CAPES): coarse FFT pick, FB covariance + real
           Cholesky, Capon on the x10 grid over +-1 sample, refinement, APES
           amplitude at the picked delay
  numpy    the thesis's apes.m ported to numpy (per-frequency loop, explicit
           inverse, backward data without the conjugate) on the same x10 grid
           over +-1 sample (21 frequencies), then the maximum
Target: >= 1000 per second at L = 200; moonshot: real time for the thesis's
outdoor recording, 2 channels x 3130 packets per second = 6260 per second.
"""

import os

# single thread for the numpy baseline too
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from gnuradio import arraycal  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apes_reference import thesis_style_apes  # noqa: E402

K = 1278


def frame_cfr(rng):
    k = np.fft.fftfreq(K) * K
    d0 = rng.uniform(0, 1)
    H = np.exp(-2j * np.pi * k * d0 / K) + 0.5 * np.exp(1j * rng.uniform(-3, 3)) * \
        np.exp(-2j * np.pi * k * (d0 + 0.8) / K)
    return (H + 0.03 * (rng.standard_normal(K) + 1j * rng.standard_normal(K))).astype(np.complex64)


def rate(fn, items, min_seconds=2.0):
    n, t0 = 0, time.perf_counter()
    while True:
        for it in items:
            fn(it)
            n += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return n / dt


def main():
    rng = np.random.default_rng(7)
    frames = [frame_cfr(rng) for _ in range(50)]
    kh = (K - 1) // 2
    grid = np.arange(-10, 11) * 0.1  # x10 over +-1 sample
    print(f"{'L':>4s} {'C++ (CAPES) /s':>15s} {'numpy thesis port /s':>21s} {'ratio':>8s}")
    for L in (200, 320):
        los = arraycal.cir_los(K, 2)
        los.set_apes(L)
        cpp = rate(lambda H: los.estimate(H), frames)

        def numpy_los(H):
            x = np.concatenate([H[K - kh:], H[:kh + 1]]).astype(np.complex128)
            fft = arraycal.cir_los(K, 2).estimate(H).delay
            taus = fft + grid
            a = thesis_style_apes(x, L, -2 * np.pi * taus / K)
            return a[np.argmax(np.abs(a))]

        py = rate(numpy_los, frames[:3], min_seconds=3.0)
        print(f"{L:4d} {cpp:15.0f} {py:21.2f} {cpp / py:8.0f}x")
    print("\ntarget: >= 1000 LoS estimates per second at L = 200 (one core)")
    print("moonshot: 6260 per second (the thesis's outdoor recording in real time)")


if __name__ == "__main__":
    main()
