#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Independent numpy channel model for the tests.

Packets are sent back to back, so the transmitted stream is periodic in the
packet length K and a (fractional) delay is exact as a phase ramp on the
centred DFT grid of one period. Paths, a common CFO, noise and DC are then
applied in the time domain.
"""

import numpy as np


def delayed_period(x, delay):
    """One period of the periodic signal x delayed by `delay` samples (band-limited)."""
    K = len(x)
    k = np.fft.fftfreq(K) * K  # centred integer frequencies
    ramp = np.exp(-2j * np.pi * k * delay / K)
    if K % 2 == 0:
        ramp[K // 2] = np.cos(np.pi * delay)  # Nyquist: real, symmetric interpretation
    return np.fft.ifft(np.fft.fft(x) * ramp)


def multichannel_stream(packet, n_packets, paths, cfo_hz=0.0, samp_rate=1.0,
                        snr_db=None, rng=None, dc=None, lead=0, noise_only=False):
    """Stream of n_packets back-to-back packets through per-channel paths.

    paths: list (per channel) of lists of (gain, delay_samples).
    snr_db: per-sample SNR of a unit-gain path (noise variance 10^(-snr/10)).
    lead: samples of noise before the first packet (stream starts mid-noise).
    Returns complex64 array (channels, lead + n_packets*K).
    """
    rng = rng or np.random.default_rng(0)
    K = len(packet)
    n = lead + n_packets * K
    out = np.zeros((len(paths), n), dtype=np.complex128)
    for c, chan in enumerate(paths):
        period = np.zeros(K, dtype=np.complex128)
        for gain, delay in chan:
            period += gain * delayed_period(packet.astype(np.complex128), delay)
        if not noise_only:
            out[c, lead:] = np.tile(period, n_packets)
    t = np.arange(n)
    out *= np.exp(2j * np.pi * cfo_hz * t / samp_rate)
    if snr_db is not None:
        sigma = np.sqrt(10 ** (-snr_db / 10) / 2)
        out += sigma * (rng.standard_normal(out.shape) + 1j * rng.standard_normal(out.shape))
    if dc is not None:
        out += np.asarray(dc).reshape(-1, 1)
    return out.astype(np.complex64)
