#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The calibration packet: Zadoff-Chu preamble twice, then pi/4 Gray QPSK.

Thesis-compatible by default: ZC root 25, length 139, two copies (278
samples) and 1000 QPSK symbols at one sample per symbol, 1278 samples of
unit magnitude. The payload reproduces MATLAB's ``randi`` from its default
generator state (Mersenne Twister, seed 5489): ``RandomState(5489)
.random_sample(1278)``, ``floor(4 r)``, Gray map 0->pi/4, 1->3pi/4,
3->5pi/4, 2->7pi/4, with the first 278 symbols overwritten by the preamble.
"""

from dataclasses import dataclass

import numpy as np

# Gray map of the 2-bit symbol index to the constellation angle / (pi/4)
_GRAY_ANGLE = np.array([1, 3, 7, 5])


@dataclass(frozen=True)
class WaveformSpec:
    root: int = 25
    zc_length: int = 139
    repetitions: int = 2
    payload_symbols: int = 1000
    seed: int = 5489

    def __post_init__(self):
        if self.zc_length < 2:
            raise ValueError("ZC length must be >= 2")
        if not 0 < self.root < self.zc_length:
            raise ValueError("ZC root must be in 1..length-1")
        if np.gcd(self.root, self.zc_length) != 1:
            raise ValueError("ZC root and length must be coprime (constant amplitude, "
                             "ideal autocorrelation)")
        if self.repetitions < 2:
            raise ValueError("the Moose CFO estimate needs >= 2 preamble repetitions")
        if self.payload_symbols < 0:
            raise ValueError("payload length must be >= 0")

    @property
    def preamble_length(self):
        return self.repetitions * self.zc_length

    @property
    def length(self):
        return self.preamble_length + self.payload_symbols

DEFAULT_SPEC = WaveformSpec()


def zadoff_chu(root=25, length=139):
    """Zadoff-Chu sequence exp(-j pi u n (n + c) / N), c = N mod 2 (MATLAB's zadoffChuSeq)."""
    n = np.arange(length)
    c = length % 2
    return np.exp(-1j * np.pi * root * n * (n + c) / length).astype(np.complex64)


def _spec(spec, kwargs):
    if spec is None:
        spec = WaveformSpec(**kwargs) if kwargs else DEFAULT_SPEC
    elif kwargs:
        raise TypeError("give either a WaveformSpec or keyword parameters, not both")
    return spec


def preamble(spec=None, **kwargs):
    """The preamble: ``repetitions`` copies of the ZC sequence."""
    spec = _spec(spec, kwargs)
    return np.tile(zadoff_chu(spec.root, spec.zc_length), spec.repetitions)


def packet(spec=None, **kwargs):
    """One packet (complex64, unit magnitude): preamble then Gray QPSK payload."""
    spec = _spec(spec, kwargs)
    n = spec.length
    r = np.random.RandomState(spec.seed).random_sample(n)
    sym = np.floor(4 * r).astype(int)
    x = np.exp(1j * np.pi / 4 * _GRAY_ANGLE[sym]).astype(np.complex64)
    x[:spec.preamble_length] = preamble(spec)
    return x


def spectrum(spec=None, **kwargs):
    """Known spectrum X[k] = DFT of the packet (FFT order), for H = Y / X."""
    return np.fft.fft(packet(spec, **kwargs).astype(np.complex128))


def to_interleaved(x):
    """complex -> interleaved float32 I/Q, the format of WaveForm.bin and GNU Radio files."""
    x = np.asarray(x, dtype=np.complex64)
    return x.view(np.float32)


def write(path, x):
    """Write complex samples as interleaved float32 I/Q (atomically)."""
    from ..fileio import atomic_write_bytes
    atomic_write_bytes(path, to_interleaved(x).tobytes())


def read(path):
    """Read interleaved float32 I/Q into complex64."""
    data = np.fromfile(path, dtype=np.float32)
    if data.size % 2:
        raise ValueError(f"{path}: odd number of floats, not interleaved I/Q")
    return data.view(np.complex64)
