#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The packet: thesis bit-compatibility and the properties the receiver relies on."""

import numpy as np
import pytest

from gnuradio import arraycal
from gnuradio.arraycal.radio import waveform as wf

from conftest import run_cli, assert_one_line_error, data_file


def thesis_packet():
    return np.fromfile(data_file("thesis", "WaveForm.bin"), dtype=np.float32).view(np.complex64)


def test_default_packet_equals_thesis_waveform_bin():
    ref = thesis_packet()
    x = arraycal.packet()
    assert x.dtype == np.complex64 and x.shape == (1278,)
    # float32 precision: MATLAB and numpy round exp() differently in the last bit
    np.testing.assert_allclose(x, ref, rtol=0, atol=2 * np.finfo(np.float32).eps)


def test_cli_waveform_writes_the_thesis_file(tmp_path):
    out = tmp_path / "wf.bin"
    p = run_cli("waveform", "--out", out)
    assert p.returncode == 0, p.stderr
    got = np.fromfile(out, dtype=np.float32)
    ref = np.fromfile(data_file("thesis", "WaveForm.bin"), dtype=np.float32)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=2 * np.finfo(np.float32).eps)


def test_cli_waveform_options_change_the_packet(tmp_path):
    out = tmp_path / "wf.bin"
    p = run_cli("waveform", "--out", out, "--root", 5, "--zc-length", 63, "--repetitions", 3,
                "--payload", 200, "--seed", 1)
    assert p.returncode == 0, p.stderr
    x = wf.read(out)
    spec = wf.WaveformSpec(5, 63, 3, 200, 1)
    assert x.size == 3 * 63 + 200
    np.testing.assert_array_equal(x, wf.packet(spec))
    np.testing.assert_allclose(x[:63], wf.zadoff_chu(5, 63), atol=1e-7)


@pytest.mark.parametrize("root,length", [(25, 139), (1, 139), (5, 63), (5, 64)])
def test_zc_constant_amplitude_and_ideal_periodic_autocorrelation(root, length):
    z = wf.zadoff_chu(root, length).astype(np.complex128)
    np.testing.assert_allclose(np.abs(z), 1.0, atol=1e-6)
    # periodic autocorrelation: N at lag 0, 0 at every other lag (closed form)
    r = np.fft.ifft(np.abs(np.fft.fft(z)) ** 2)
    assert abs(r[0] - length) < 1e-3
    assert np.max(np.abs(r[1:])) < 1e-3 * length


def test_preamble_halves_identical_and_payload_unit_qpsk():
    x = arraycal.packet()
    pre = arraycal.preamble()
    assert pre.shape == (278,)
    np.testing.assert_array_equal(pre[:139], pre[139:])
    np.testing.assert_array_equal(x[:278], pre)
    pay = x[278:].astype(np.complex128)
    np.testing.assert_allclose(np.abs(pay), 1.0, atol=1e-6)
    ang = np.mod(np.angle(pay) / (np.pi / 4), 8)
    np.testing.assert_allclose(ang, np.round(ang), atol=1e-5)
    assert set(np.round(ang).astype(int)) == {1, 3, 5, 7}
    assert abs(np.mean(np.abs(x) ** 2) - 1.0) < 1e-6


def test_payload_follows_matlab_randi_and_gray_map():
    r = np.random.RandomState(5489).random_sample(1278)
    sym = np.floor(4 * r).astype(int)[278:]
    gray = {0: 1, 1: 3, 3: 5, 2: 7}
    expect = np.exp(1j * np.pi / 4 * np.array([gray[s] for s in sym]))
    np.testing.assert_allclose(arraycal.packet()[278:], expect, atol=1e-6)


def test_spectrum_has_no_bin_below_the_stated_floor():
    # LS divides by X: the deepest bin of the thesis packet is -35.1 dB below
    # the mean; the stated floor is -36 dB (and the noise gain rho ~ 7.6, 8.8 dB)
    X = arraycal.spectrum()
    p = np.abs(X) ** 2 / len(X)
    assert 10 * np.log10(p.min()) > -36.0
    np.testing.assert_allclose(X, np.fft.fft(arraycal.packet().astype(np.complex128)))
    est = arraycal.ls_estimator(arraycal.packet())
    assert est.spectrum_floor_db() == pytest.approx(10 * np.log10(p.min()), abs=1e-3)
    assert est.noise_gain() == pytest.approx(np.mean(len(X) / np.abs(X) ** 2), rel=1e-4)


def test_bad_spec_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError):
        wf.WaveformSpec(root=139)
    with pytest.raises(ValueError):
        wf.WaveformSpec(repetitions=1)
    p = run_cli("waveform", "--out", tmp_path / "x.bin", "--root", 0)
    assert_one_line_error(p, "root")
