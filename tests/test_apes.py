#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Forward-backward APES: equality with the textbook formula, the LoS it gives,
its advantage over the FFT with a close reflection, and degenerate input."""

import warnings

import numpy as np
import pytest

from gnuradio import arraycal

from apes_reference import fb_apes_textbook
from chain_util import run_chain
from simchan import multichannel_stream

K = 1278
KH = (K - 1) // 2


def cfr(paths, bin_snr_db=None, rng=None):
    """CFR on K bins of paths [(gain, delay_samples)], band-limited (centred grid)."""
    k = np.fft.fftfreq(K) * K
    H = np.zeros(K, complex)
    for g, d in paths:
        r = np.exp(-2j * np.pi * k * d / K)
        r[K // 2] = np.cos(np.pi * d)
        H += g * r
    if bin_snr_db is not None:
        H += (rng.standard_normal(K) + 1j * rng.standard_normal(K)) * \
            10 ** (-bin_snr_db / 20) / np.sqrt(2)
    return H.astype(np.complex64)


@pytest.mark.parametrize("N,L,nfft", [(64, 16, 64), (101, 33, 256), (200, 67, 50),
                                      (128, 42, 97)])
def test_equals_the_textbook_fb_apes(N, L, nfft):
    rng = np.random.default_rng(N + L)
    x = rng.standard_normal(N) + 1j * rng.standard_normal(N)
    x += 3 * np.exp(2j * np.pi * 0.23 * np.arange(N))
    got = arraycal.apes(x, L, nfft)
    ref = fb_apes_textbook(x, L, 2 * np.pi * np.arange(nfft) / nfft)
    assert got.shape == (nfft,)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * np.max(np.abs(ref)))


def test_convention_tone_on_the_grid_returns_its_amplitude():
    N, nfft, k0 = 300, 64, 11
    alpha = 0.7 * np.exp(-1.3j)
    rng = np.random.default_rng(1)
    x = alpha * np.exp(2j * np.pi * k0 * np.arange(N) / nfft)
    x += 1e-3 * (rng.standard_normal(N) + 1j * rng.standard_normal(N))
    got = arraycal.apes(x, 60, nfft)
    assert abs(got[k0] - alpha) < 1e-3
    assert np.argmax(np.abs(got)) == k0


def test_single_tap_los_amplitude_and_phase(rng):
    # stated: |gain error| < 1 % and phase < 0.5 deg at 20 dB per bin; achieved (the
    # rng fixture's seed): 0.76 %, 0.25 deg, 0.003 samples at worst
    for L in (200, 320):
        los = arraycal.cir_los(K, 2)
        los.set_apes(L)
        for d in (0.0, 0.33, 0.71):
            g = 0.8 * np.exp(2.2j)
            e = los.estimate(cfr([(g, d)], 20, rng))
            assert abs(abs(e.gain) / abs(g) - 1) < 0.01
            assert abs(np.degrees(np.angle(e.gain / g))) < 0.5
            assert abs(e.delay - d) < 0.01


def two_tap_errors(L, sep, bin_snr_db, trials=30, seed=11):
    rng = np.random.default_rng(seed)
    los_g = np.exp(0.7j)
    apes_los = arraycal.cir_los(K, 2)
    apes_los.set_apes(L)
    fft_los = arraycal.cir_los(K, 2)
    ea, ef = [], []
    for _ in range(trials):
        refl = 0.5 * np.exp(1j * rng.uniform(-np.pi, np.pi))  # 6 dB weaker
        d0 = rng.uniform(0, 1)
        H = cfr([(los_g, d0), (refl, d0 + sep)], bin_snr_db, rng)
        ea.append(apes_los.estimate(H).gain / los_g - 1)
        ef.append(fft_los.estimate(H).gain / los_g - 1)
    return np.abs(ea), np.abs(ef), np.angle(np.array(ea) + 1), np.angle(np.array(ef) + 1)


def rms(v):
    return float(np.sqrt(np.mean(np.square(v))))


def test_close_reflection_apes_beats_the_fft():
    # a reflection 0.5 samples behind the LoS, 6 dB weaker, 30 dB per bin:
    # stated margins: APES's LoS gain error RMS is at most 1/4 of the FFT's
    # with L = 320, at most 0.6 of it with the thesis's L = 200 (achieved, seed 11:
    # 0.086 and 0.52); its phase error RMS is far smaller still (achieved 0.017 and
    # 0.17 of the FFT's; bounds about 3x)
    for L, margin, phase_margin in ((320, 0.25, 0.05), (200, 0.6, 0.5)):
        ea, ef, pa, pf = two_tap_errors(L, 0.5, 30)
        print(f"two taps 0.5 apart, L={L}: APES/FFT error RMS gain {rms(ea) / rms(ef):.4f} "
              f"phase {rms(pa) / rms(pf):.4f}")
        assert rms(ea) < margin * rms(ef), (L, rms(ea), rms(ef))
        assert rms(pa) < phase_margin * rms(pf), (L, rms(pa), rms(pf))
    # and the FFT cannot separate them at all: its error is the leak
    assert rms(ef) > 0.25


def test_measured_resolution_limit():
    # stated resolution limit (median LoS error <= 0.05 against a reflection
    # 6 dB weaker, 30 dB per bin): 0.4 samples with L = 320, 0.3 with L = K/2;
    # the FFT's error at those separations stays above 0.3 (~1 sample limit).
    # Achieved (seed 11): 0.035 at 0.4 (L = 320), 0.013 at 0.3 (L = 638), FFT 0.42, 0.45
    ea, ef, _, _ = two_tap_errors(320, 0.4, 30, trials=20)
    print(f"median LoS error, L=320 at 0.4: {np.median(ea):.4f} (FFT {np.median(ef):.4f})")
    assert np.median(ea) < 0.06 and np.median(ef) > 0.3
    ea, ef, _, _ = two_tap_errors(638, 0.3, 30, trials=20)
    print(f"median LoS error, L=638 at 0.3: {np.median(ea):.4f} (FFT {np.median(ef):.4f})")
    assert np.median(ea) < 0.04 and np.median(ef) > 0.3
    # below the limit APES no longer separates the paths either (achieved 0.36)
    ea, _, _, _ = two_tap_errors(320, 0.2, 30, trials=20)
    assert np.median(ea) > 0.12


def test_zeros_give_zeros():
    assert np.all(arraycal.apes(np.zeros(100), 20, 32) == 0)


def test_one_noise_free_tone_is_exact_and_regularisation_is_reported():
    N, nfft, k0 = 150, 50, 7
    x = 2.0 * np.exp(0.4j) * np.exp(2j * np.pi * k0 * np.arange(N) / nfft)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = arraycal.apes(x, 40, nfft)
    assert any("diagonal loading" in str(m.message) for m in w)
    assert abs(got[k0] - 2.0 * np.exp(0.4j)) < 1e-6
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("L", [100, 101, 500])
def test_filter_length_not_below_data_length_is_a_clear_error(L):
    with pytest.raises(ValueError, match="smaller than the data length"):
        arraycal.apes(np.ones(100), L, 16)


def test_nan_input_is_a_clear_error():
    x = np.ones(50, complex)
    x[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        arraycal.apes(x, 10, 16)


def test_chain_with_apes_keeps_relative_phase(rng):
    # the whole chain with method="apes": two elements behind the same close
    # reflection geometry, relative gain recovered
    g0, g1 = 0.9 * np.exp(0.4j), 0.6 * np.exp(-1.9j)
    sig = multichannel_stream(arraycal.packet(), 12,
                              [[(g0, 0.2), (0.45 * g0 * np.exp(1j), 0.8)],
                               [(g1, 0.2), (0.45 * g1 * np.exp(1j), 0.8)]],
                              cfo_hz=700, samp_rate=4e6, snr_db=40, rng=rng, lead=100)
    msgs, _ = run_chain(sig, 4e6, method="apes", apes_len=320)
    rel = np.array([m["los"][1] / m["los"][0] for m in msgs]) / (g1 / g0)
    assert len(rel) >= 10
    # each channel's APES estimate carries its own noise (the FFT's leak would
    # be identical on both): mean over frames within 0.25 deg, each within 1.5
    # (achieved with the rng fixture's seed: 0.14 deg, 0.64 deg, 0.6 % amplitude)
    assert abs(np.degrees(np.angle(np.mean(rel / np.abs(rel))))) < 0.25
    assert np.max(np.abs(np.degrees(np.angle(rel)))) < 1.5
    assert abs(np.mean(np.abs(rel)) - 1) < 0.01


def test_apes_cir_block_window_and_los(rng):
    from gnuradio import blocks, gr
    import pmt
    g, d = 0.8 * np.exp(1j), 0.3
    frames = [cfr([(g, d), (0.3 * g * np.exp(2j), d + 1.5)], 30, rng) for _ in range(3)]
    flat = np.concatenate(frames).tolist()

    tb = gr.top_block()
    blk = arraycal.apes_cir(K, 200, "window", 2.0, 0.1)
    snk = blocks.vector_sink_c(blk.output_len())
    tb.connect(blocks.vector_source_c(flat, False, K), blk, snk)
    tb.run()
    out = np.array(snk.data()).reshape(3, blk.output_len())
    assert blk.output_len() == 41
    delays = (np.arange(41) - 20) * 0.1
    for row in out:
        j = np.argmax(np.abs(row))
        assert delays[j] == pytest.approx(d, abs=0.051)
        # achieved (rng fixture's seed, 30 dB per bin): 0.21 % gain error at worst
        assert abs(row[j] / g - 1) < 0.007
        # the second path shows at its own delay (achieved: 0.9 % off at worst)
        j2 = np.argmin(np.abs(delays - (d + 1.5)))
        assert abs(row[j2]) == pytest.approx(0.3 * abs(g), rel=0.03)

    tb = gr.top_block()
    blk = arraycal.apes_cir(K, 200, "los")
    snk = blocks.vector_sink_c(1)
    tb.connect(blocks.vector_source_c(flat, False, K), blk, snk)
    tb.run()
    gains = np.array(snk.data())
    # achieved: 0.22 % and 0.0028 samples at worst (rng fixture's seed)
    assert np.all(np.abs(gains / g - 1) < 0.007)
    tags = [t for t in snk.tags() if pmt.symbol_to_string(t.key) == "los_delay"]
    assert [t.offset for t in tags] == [0, 1, 2]
    assert all(abs(pmt.to_double(t.value) - d) < 0.01 for t in tags)
