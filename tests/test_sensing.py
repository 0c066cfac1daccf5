#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Calibration-assisted sensing (Jiang et al., Section IV-B/C): compensation,
detection, false alarms, the bounds, sensing-assisted tracking, the message
blocks and the CLI, each against math written out here."""

import math
import time

import numpy as np
import pmt
import pytest
from gnuradio import gr
from hypothesis import given, settings, strategies as st
from scipy.stats import binom

from gnuradio.arraycal import reciprocity as rc, reciprocity_calibrator
from gnuradio.arraycal import sensing
from gnuradio.arraycal.errors import UserError
from gnuradio.arraycal.sensing import scenarios
from gnuradio.arraycal.sensing.blocks import sensing_link_sim, sensing_range_doppler
from gnuradio.arraycal.reciprocity.blocks import csi_message

from conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.timeout(300)

C = 299792458.0
DF, T, FC = 480e3, 125e-6, 26e9
LAM = C / FC


def paths_channel(K, L, paths, df=DF, period=T, fc=FC):
    """Eq. 37 written out: sum_p a exp(-j2pi k df d/c) exp(-j2pi l T v / lambda)."""
    k = np.arange(K)[:, None]
    l_ = np.arange(L)[None, :]
    lam = C / fc
    H = np.zeros((K, L), complex)
    for d, v, a in paths:
        H += a * np.exp(-2j * np.pi * k * df * d / C) * np.exp(-2j * np.pi * l_ * period * v / lam)
    return H


def cnoise(rng, shape, sigma=1.0):
    return sigma * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2)


# ---------------------------------------------------------------- compensation
def test_compensation_noise_free_exact():
    """G built from the contract's model (per-symbol timing and frequency offsets,
    phi[l] = 2pi T sum_{i<=l} fo[i]) is undone to 1e-12; the constant-offset
    case (eq. 34) too."""
    rng = np.random.default_rng(1)
    K, L = 50, 40
    H = cnoise(rng, (K, L))
    tau = 10e-9 * rng.standard_normal(L)
    fo = rng.uniform(0, 550, L)
    k = np.arange(K)
    G = np.empty_like(H)
    for l in range(L):
        phi = 2 * np.pi * T * fo[:l + 1].sum()
        G[:, l] = H[:, l] * np.exp(-2j * np.pi * k * DF * tau[l]) * np.exp(1j * phi)
    assert np.max(np.abs(sensing.compensate(G, tau, fo, DF, T) - H)) < 1e-12
    G1 = H * np.exp(-2j * np.pi * k[:, None] * DF * 3e-9) * \
        np.exp(1j * 2 * np.pi * T * 120.0 * (np.arange(L) + 1))[None, :]
    assert np.max(np.abs(sensing.compensate(G1, 3e-9, 120.0, DF, T) - H)) < 1e-11


def test_offsets_from_calibration_chain_recovers_the_channel():
    """Calibration -> sensing, noise-free: a link with RF gains, 10 ns timing jitter
    and a drifting LO, calibrated slot by slot with the reciprocity ML pair
    estimator; the compensated uplink is the propagation channel times one
    constant (gains and the first slot's LO phase) to 1e-9."""
    rng = np.random.default_rng(2)
    L = 64
    link = scenarios.BistaticLink(
        [{"range_m": 300.0, "velocity_mps": 0.0}, {"range_m": 365.0, "velocity_mps": -3.2,
                                                    "gain_db": -35}],
        K=100, L=L, tau=10e-9 * rng.standard_normal(L), fo=np.linspace(0, 550, L),
        snr_db=400.0, seed=3)
    G, H = link.measure()
    tau_pair, c_pair = scenarios.calibrate_slots(G, H, link.spacing)
    assert np.max(np.abs(tau_pair - link.tau)) < 1e-15
    for name, X in (("ul", H), ("dl", G)):
        tau, fo = sensing.offsets_from_calibration(tau_pair, c_pair, link.slot_s, name)
        ratio = sensing.compensate(X, tau, fo, link.spacing, link.slot_s) / link.propagation()
        assert np.max(np.abs(ratio / ratio[0, 0] - 1)) < 1e-9, name


# ---------------------------------------------------------------- maps and detection
def test_range_doppler_axes_and_an_on_grid_path():
    """A path exactly on the grid: power |a|^2 in its one cell, nothing elsewhere;
    axes in steps of c/(K df) and lambda/(L T)."""
    K, L = 32, 16
    i, m = 7, -3
    d = i * C / (K * DF)
    v = m * LAM / (L * T)
    H = paths_channel(K, L, [(d, v, 0.5j)])
    power, r, vel = sensing.range_doppler(H, DF, T, FC)
    assert power.shape == (K, L)
    assert np.allclose(np.diff(r), C / (K * DF)) and r[0] == 0
    assert np.allclose(np.diff(vel), LAM / (L * T)) and np.isclose(vel[L // 2], 0)
    ii, mm = np.unravel_index(np.argmax(power), power.shape)
    assert np.isclose(r[ii], d) and np.isclose(vel[mm], v)
    assert abs(power[ii, mm] - 0.25) < 1e-12
    assert np.sum(power) - power[ii, mm] < 1e-20


def test_detection_noise_free_exact():
    """Noise-free, three off-grid paths over 50 dB (a static one the strongest):
    exactly those, to 1e-6 m and 1e-6 m/s, amplitudes to 1e-6; with MTI the two
    moving ones."""
    K, L = 64, 48
    paths = [(100.3, 5.3, 1.0), (200.7, -7.1, 0.01j), (150.2, 0.0, 3.0 - 1j)]
    H = paths_channel(K, L, paths)
    for mti, want in ((False, paths), (True, paths[:2])):
        dets = sensing.detect(H, DF, T, FC, mti=mti)
        assert len(dets) == len(want), (mti, dets)
        for d, v, a in want:
            x = min(dets, key=lambda x: abs(x["range_m"] - d))
            assert abs(x["range_m"] - d) < 1e-6 and abs(x["velocity_mps"] - v) < 1e-6, (mti, x)
            assert abs(x["amplitude"] - a) < 1e-6 * abs(a), (mti, x, a)


@pytest.mark.parametrize("seed", range(6))
def test_detection_at_known_range_and_velocity(seed):
    """Random scenes: a strong static path and 2-3 moving targets at random
    off-grid ranges and velocities (at least 4 cells apart), 24 to 34 dB
    integrated SNR (off-grid loses up to 7.8 dB against a 12 dB threshold), in
    noise. With MTI every moving target is found once within one resolution
    cell; without MTI the static one too. Besides them at most one detection,
    near the threshold: at Pfa 1e-6 a map of 4096 cells has a false alarm
    with probability 0.4 %."""
    rng = np.random.default_rng(100 + seed)
    K, L = 64, 64
    res_r, res_v = C / (K * DF), LAM / (L * T)
    targets = []
    while len(targets) < 2 + seed % 2:
        i, m = rng.uniform(2, K - 2), rng.uniform(-L / 2 + 2, L / 2 - 2)
        if abs(m) < 3 or any(abs(i - a) < 4 and abs(m - b) < 4 for a, b, _ in targets):
            continue
        snr_int = rng.uniform(24, 34)
        targets.append((i, m, 10 ** ((snr_int - 10 * math.log10(K * L)) / 20)))
    paths = [(i * res_r, m * res_v, a * np.exp(2j * np.pi * rng.uniform()))
             for i, m, a in targets]
    static = (rng.uniform(5, K - 5) * res_r, 0.0, 3.0)
    H = paths_channel(K, L, paths + [static]) + cnoise(rng, (K, L))
    for mti, want in ((True, paths), (False, paths + [static])):
        dets = sensing.detect(H, DF, T, FC, mti=mti, pfa=1e-6)
        found = []
        for d, v, _ in want:
            hit = [x for x in dets if abs(x["range_m"] - d) <= res_r
                   and abs(x["velocity_mps"] - v) <= res_v]
            assert len(hit) == 1, (mti, d, v, dets)
            found += hit
        extra = [x for x in dets if not any(x is f for f in found)]
        assert len(extra) <= 1 and all(x["snr_db"] < 14 for x in extra), (mti, extra)
        assert set(dets[0]) >= {"range_m", "velocity_mps", "snr_db"}


@pytest.mark.timeout(600)
def test_false_alarm_rate_binomial():
    """Noise only, MTI on: over 250 maps of 64 x 64 (1.0e6 tested cells) the
    detections at the default Pfa 1e-6 stay under the binomial 99.9 % bound
    (~5), and at Pfa 1e-3 the empirical rate lies inside the binomial 99.99 %
    interval of 0.95 to 1.1 x Pfa: successive cancellation, removing a noise
    spike from its neighbours' training cells, adds about 4 %."""
    rng = np.random.default_rng(7)
    K, L, trials = 64, 64, 250
    n = trials * K * (L - 1)                     # the zero-Doppler column is not tested
    hi6 = lo3 = 0
    for _ in range(trials):
        N = cnoise(rng, (K, L))
        hi6 += len(sensing.detect(N, DF, T, FC))
        lo3 += len(sensing.detect(N, DF, T, FC, pfa=1e-3, max_targets=50))
    assert hi6 <= binom.ppf(0.999, n, 1e-6), hi6
    assert binom.ppf(1e-4, n, 0.95e-3) <= lo3 <= binom.ppf(1 - 1e-4, n, 1.1e-3), lo3 / n


def test_rmse_near_the_crlb():
    """One path, eq. 37 model, -8 dB per sample in 32 x 32 (22 dB integrated),
    off the grid: over 300 trials the range and velocity RMSE are within
    [0.9, 1.2] of eq. 40's bound (the ML refinement is efficient here)."""
    rng = np.random.default_rng(11)
    K, L, snr_db, trials = 32, 32, -8.0, 300
    d0, v0 = 10.37 * C / (K * DF), 5.61 * LAM / (L * T)
    clean = paths_channel(K, L, [(d0, v0, 10 ** (snr_db / 20))])
    bound = sensing.crlb(snr_db, K, L, DF, T, FC)
    er, ev = [], []
    for _ in range(trials):
        H = clean * np.exp(2j * np.pi * rng.uniform()) + cnoise(rng, (K, L))
        dets = sensing.detect(H, DF, T, FC, mti=False)
        assert len(dets) == 1
        er.append(dets[0]["range_m"] - d0)
        ev.append(dets[0]["velocity_mps"] - v0)
    rr = math.sqrt(np.mean(np.square(er))) / bound["range_m"]
    rv = math.sqrt(np.mean(np.square(ev))) / bound["velocity_mps"]
    assert 0.9 < rr < 1.2 and 0.9 < rv < 1.2, (rr, rv)


def test_predicted_phase_error_near_its_bound():
    """The phase of the channel predicted from one frame's detection, at a
    subcarrier and a symbol 64 past the frame, against the true channel
    (its phase known here): RMSE within [0.85, 1.25] of the bound."""
    rng = np.random.default_rng(12)
    K, L, snr_db, trials = 32, 32, -8.0, 300
    d0, v0 = 10.37 * C / (K * DF), 5.61 * LAM / (L * T)
    a = 10 ** (snr_db / 20)
    kq, lq = 5, L + 64
    bound = sensing.crlb(snr_db, K, L, DF, T, FC, k=kq, l=lq)["phase_rad"]
    ep = []
    for _ in range(trials):
        a_t = a * np.exp(2j * np.pi * rng.uniform())
        H = paths_channel(K, L, [(d0, v0, a_t)]) + cnoise(rng, (K, L))
        dets = sensing.detect(H, DF, T, FC, mti=False)
        truth = paths_channel(K, lq + 1, [(d0, v0, a_t)])[kq, lq]
        ep.append(np.angle(sensing.predict_channel(dets, kq, lq, DF, T, FC) / truth))
    ratio = math.sqrt(np.mean(np.square(ep))) / bound
    assert 0.85 < ratio < 1.25, ratio


# ---------------------------------------------------------------- the story
def test_story_compensated_and_mti_finds_the_uav():
    """The experiment: raw, the LoS smears in Doppler (under 20 % of its range
    bin's energy near its peak) and the UAV is lost with or without MTI;
    compensated with the calibration's offsets the LoS is one cell (> 99 %)
    and, after MTI, the UAV is the one target, within one resolution cell
    (its range at the frame centre: it moves 10 cm in the frame)."""
    story = scenarios.sensing_story(seed=1)
    cases = story["cases"]
    res_r, res_v = story["resolution"]
    for mti in (False, True):
        assert cases[("raw", mti)]["uav"] is None
        assert cases[("raw", mti)]["los_concentration"] < 0.2
    assert cases[("compensated", False)]["los_concentration"] > 0.99
    dets = cases[("compensated", True)]["detections"]
    assert len(dets) == 1
    assert abs(dets[0]["range_m"] - 365.0) < res_r and abs(dets[0]["velocity_mps"] + 3.2) < res_v
    assert story["tau_error_s"] < 20e-12


def test_sensing_assisted_tracking_beats_plain_tracking():
    """Fig. 9/10's dynamic scenario (4 BS nodes, UE at 3 m/s): with a tenth of
    the pilots, sensing-assisted tracking holds the coherent gain within
    0.2 dB of ideal over 50 ms, while plain tracking loses more than 5 dB
    (it takes the motion's phase for LO drift); for a static UE both hold it
    and agree (the sensed path does not move)."""
    dyn = scenarios.dynamic_tracking(seed=2, slots=400, pilot_periods=(10,))
    ideal = np.mean(dyn["ideal_db"])
    assert np.mean(dyn["sensing-assisted 1/10"]) > ideal - 0.2
    assert np.mean(dyn["plain 1/10"]) < ideal - 5
    still = scenarios.DynamicScene(seed=3, speed_mps=0.0)
    dyn = scenarios.dynamic_tracking(slots=200, pilot_periods=(10,), scene=still)
    ideal = np.mean(dyn["ideal_db"])
    assert np.mean(dyn["plain 1/10"]) > ideal - 0.3
    assert np.mean(dyn["sensing-assisted 1/10"]) > ideal - 0.3


def test_phase_tracker_sensing_switch():
    """Default off (today's behaviour); on, a zero predicted phase reproduces
    the plain loop exactly and a predicted phase is removed before the loop."""
    plain = rc.PhaseTracker(np.ones(2), np.zeros(2))
    with pytest.raises(UserError):
        plain.update(1e-3, np.zeros(2), channel_phase=np.zeros(2))
    on = rc.PhaseTracker(np.ones(2), np.zeros(2), sensing_assisted=True)
    with pytest.raises(UserError):
        on.update(1e-3, np.zeros(2))
    a = rc.PhaseTracker(np.ones(2), np.zeros(2))
    b = rc.PhaseTracker(np.ones(2), np.zeros(2), sensing_assisted=True)
    c = rc.PhaseTracker(np.ones(2), np.zeros(2), sensing_assisted=True)
    for i in range(1, 20):
        t = i * 1e-3
        ph = 2 * np.pi * np.array([30.0, -45.0]) * t
        motion = 2 * np.pi * 100.0 * t
        a.update(t, ph)
        b.update(t, ph, channel_phase=np.zeros(2))
        c.update(t, ph + motion, channel_phase=motion)
    assert np.array_equal(a.phase, b.phase) and np.array_equal(a.freq_hz, b.freq_hz)
    assert np.allclose(c.freq_hz, [30.0, -45.0], atol=1e-9)


# ---------------------------------------------------------------- bad input
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
bad_number = st.one_of(st.just(float("nan")), st.just(float("inf")), st.just(0.0),
                       st.floats(max_value=0.0, allow_nan=False, allow_infinity=True))


@settings(max_examples=60, deadline=None)
@given(df=bad_number, which=st.integers(0, 2))
def test_bad_spacing_period_frequency_one_clear_error(df, which):
    H = np.ones((16, 16), complex)
    args = [DF, T, FC]
    args[which] = df
    for fn in (lambda: sensing.range_doppler(H, *args), lambda: sensing.detect(H, *args),
               lambda: sensing.predict_channel([{"range_m": 1, "velocity_mps": 0}], 0, 0, *args),
               lambda: sensing.crlb(10, 16, 16, *args)):
        with pytest.raises(sensing.SensingError) as e:
            fn()
        assert isinstance(e.value, ValueError) and isinstance(e.value, UserError)
        assert "\n" not in str(e.value)
    if which < 2:
        with pytest.raises(ValueError):
            sensing.compensate(H, 0.0, 0.0, *args[:2])


@settings(max_examples=60, deadline=None)
@given(K=st.integers(0, 6), L=st.integers(0, 6), ndim=st.integers(0, 3),
       nan=st.booleans(), tau_len=st.integers(0, 8))
def test_bad_shapes_and_nan_one_clear_error(K, L, ndim, nan, tau_len):
    shape = (K, L, 2)[:ndim]
    G = np.ones(shape, complex)
    if nan and G.size:
        G.flat[0] = np.nan
    ok_shape = ndim == 2 and K >= 2 and L >= 2
    if ok_shape and not nan:
        out = sensing.compensate(G, np.zeros(L), np.zeros(L), DF, T)
        assert out.shape == (K, L)
        if tau_len != L:
            with pytest.raises(ValueError):
                sensing.compensate(G, np.zeros(tau_len), 0.0, DF, T)
        power, r, v = sensing.range_doppler(G, DF, T, FC)
        assert power.shape == (K, L) and r.shape == (K,) and v.shape == (L,)
    else:
        for fn in (lambda: sensing.compensate(G, 0.0, 0.0, DF, T),
                   lambda: sensing.range_doppler(G, DF, T, FC),
                   lambda: sensing.detect(G, DF, T, FC)):
            with pytest.raises(sensing.SensingError):
                fn()


@settings(max_examples=40, deadline=None)
@given(pfa=st.one_of(bad_number, st.floats(min_value=1.0, allow_nan=False)),
       snr=st.one_of(st.just(float("nan")), st.just(float("inf")), st.just(-float("inf"))))
def test_bad_pfa_and_snr(pfa, snr):
    H = np.ones((16, 16), complex)
    with pytest.raises(ValueError):
        sensing.detect(H, DF, T, FC, pfa=pfa)
    with pytest.raises(ValueError):
        sensing.crlb(snr, 16, 16, DF, T, FC)


def test_small_maps_and_bad_paths():
    """detect() shrinks its CFAR windows to fit a small map and still finds a
    target (ca_cfar itself refuses windows that do not fit)."""
    rng = np.random.default_rng(5)
    for K, L in ((8, 64), (4, 16), (2, 32)):
        d, v = 1.3 * C / (K * DF), 4.2 * LAM / (L * T)
        H = paths_channel(K, L, [(d, v, 1.0)]) + cnoise(rng, (K, L), 0.05)
        dets = sensing.detect(H, DF, T, FC)
        assert len(dets) >= 1 and abs(dets[0]["range_m"] - d) < C / (K * DF) \
            and abs(dets[0]["velocity_mps"] - v) < LAM / (L * T), (K, L, dets)
    with pytest.raises(sensing.SensingError, match="too small"):
        sensing.ca_cfar(np.ones((8, 64)), 1e-6)
    with pytest.raises(sensing.SensingError, match="range_m"):
        sensing.predict_channel([{"range": 1}], 0, 0, DF, T, FC)
    with pytest.raises(sensing.SensingError):
        sensing.offsets_from_calibration([0.0, 0.0], [1, 0], T)


# ---------------------------------------------------------------- blocks
def _run(tb, done, timeout=120):
    tb.start()
    t_end = time.monotonic() + timeout
    while not done() and time.monotonic() < t_end:
        time.sleep(0.02)
    tb.stop()
    tb.wait()
    assert done(), "flowgraph did not finish in time"


def test_blocks_chain_calibration_to_sensing():
    """Simulated nodes -> reciprocity calibrator (ML-TLS every slot) -> sensing:
    both frames find the UAV within one cell and nothing else; the same CSI
    uncompensated does not."""
    frames, L, K = 2, 128, 200
    tb = gr.top_block()
    sim = sensing_link_sim(frames=frames, slots=L, num_pilots=K)
    cal = reciprocity_calibrator(2, 1, 120e3, "ml-tls")
    comp = sensing_range_doppler(frame=L)
    raw = sensing_range_doppler(frame=L, compensate=False)
    maps, dets = [], []

    class Sink(gr.basic_block):
        def __init__(self, store):
            gr.basic_block.__init__(self, "sink", None, None)
            self.store = store
            self.message_port_register_in(pmt.intern("in"))
            self.set_msg_handler(pmt.intern("in"), self.keep)

        def keep(self, msg):
            self.store.append(msg)

    ms, ds = Sink(maps), Sink(dets)
    tb.msg_connect(sim, "csi", cal, "csi")
    tb.msg_connect(sim, "csi", comp, "csi")
    tb.msg_connect(sim, "csi", raw, "csi")
    tb.msg_connect(cal, "calib", comp, "calib")
    tb.msg_connect(comp, "map", ms, "in")
    tb.msg_connect(comp, "detections", ds, "in")
    _run(tb, lambda: comp.seq >= frames and raw.seq >= frames and len(dets) >= frames)
    res_r, res_v = C / (K * DF), LAM / (L * T)
    for f, msg in enumerate(dets[:frames]):
        got = sensing.blocks.parse_detections(msg)
        # the UAV keeps moving: at the frame centre of frame f
        r_true = 365.0 - 3.2 * (f + 0.5) * L * T
        assert len(got) == 1, got
        assert abs(got[0]["range_m"] - r_true) < res_r and abs(got[0]["velocity_mps"] + 3.2) < res_v
    found_raw = [d for d in raw.last_detections
                 if abs(d["range_m"] - 365) < 2 * res_r and abs(d["velocity_mps"] + 3.2) < res_v]
    assert not found_raw
    meta, data = pmt.car(maps[0]), pmt.cdr(maps[0])
    assert pmt.to_long(pmt.dict_ref(meta, pmt.intern("num_range"), pmt.PMT_NIL)) == K
    assert pmt.to_long(pmt.dict_ref(meta, pmt.intern("num_velocity"), pmt.PMT_NIL)) == L
    assert len(pmt.f32vector_elements(data)) == K * L
    assert comp.dropped == 0


def test_block_counts_bad_messages():
    """Malformed CSI, a calibration without tau (argos) and CSI without its
    calibration are dropped with a counted warning, never raised."""
    blk = sensing_range_doppler(frame=16)
    blk._csi(pmt.intern("junk"))
    from gnuradio.arraycal.reciprocity.blocks import calibration_message
    cal = rc.Calibration(np.ones(2, complex), np.ones(1, complex), None, None, "argos")
    blk._calib(calibration_message(cal, 0.0, 0))
    for t in range(3):
        blk._csi(csi_message("ul", 0, 0, t * 125e-6, np.arange(8), np.ones(8)))
    good = rc.Calibration(np.ones(2, complex), np.ones(1, complex), np.zeros((2, 1)),
                          np.ones((2, 1), complex), "ml-tls")
    blk._calib(calibration_message(good, 2 * 125e-6, 1))
    assert blk.dropped == 4          # junk, argos, the two CSI left without calibration
    with pytest.raises(UserError):
        sensing_range_doppler(link="xl")


# ---------------------------------------------------------------- CLI
@pytest.mark.timeout(400)
def test_cli_sense_simulate(tmp_path):
    p = run_cli("reciprocity", "sense", "--simulate", "--out", str(tmp_path), timeout=380)
    assert p.returncode == 0, p.stderr
    rows = {ln.split("  ")[0].strip(): ln for ln in p.stdout.splitlines()}
    assert "lost" in rows["raw"] and "lost" in rows["raw + MTI"]
    assert "found" in rows["compensated + MTI"]
    for f in ("sense_maps.png", "sense_tracking.png", "sense.txt"):
        assert (tmp_path / f).stat().st_size > 0
        if f.endswith(".png"):
            assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(("plain", "sensing-assisted"))]
    gains = {(ln.split()[0], ln.split()[1]): float(ln.split()[2]) for ln in lines}
    assert gains[("sensing-assisted", "1/10")] > gains[("plain", "1/10")] + 5


@pytest.mark.parametrize("args, frag", [
    (["reciprocity", "sense"], "--simulate"),
    (["reciprocity", "sense", "--simulate", "--pfa", "2"], "--pfa"),
    (["reciprocity", "sense", "--simulate", "--pilot-period", "0"], "--pilot-period"),
    (["reciprocity", "sense", "--simulate", "--out", "/dev/null/dir"], "Not a directory"),
])
def test_cli_sense_bad_arguments_one_line(args, frag):
    assert_one_line_error(run_cli(*args), frag)


@settings(max_examples=80, deadline=None)
@given(text=st.one_of(st.text(max_size=8), finite.map(repr), st.integers().map(str)))
def test_cli_sense_number_parsers(text):
    import argparse
    from gnuradio.arraycal.cli import reciprocity as cr
    for fn, ok in ((cr._probability, lambda v: 0 < v < 1), (cr._positive_int, lambda v: v >= 1)):
        try:
            v = fn(text)
        except argparse.ArgumentTypeError as e:
            assert "\n" not in str(e)
        else:
            assert ok(v)
