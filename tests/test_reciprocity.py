#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Reciprocity calibration (Jiang et al.): estimators against the simulator's
truth, the CRLB, phase tracking against Nyquist, bad input, message blocks."""

import subprocess
import threading

import numpy as np
import pmt
import pytest
from gnuradio import gr

from gnuradio.arraycal import reciprocity as rc
from gnuradio.arraycal.reciprocity import blocks as rb
from gnuradio.arraycal.errors import UserError

from conftest import ARRAYCAL, assert_one_line_error, free_tcp_port, run_cli

pytestmark = pytest.mark.timeout(300)


def relative_truth(sim):
    ref = sim.truth["c_bs"][0]
    return sim.truth["c_bs"] / ref, sim.truth["c_ue"] / ref


# ---------------------------------------------------------------- noise-free
def test_noise_free_ml_tls_recovers_coefficients_and_delays():
    """Table I world with timing offsets, no noise: coefficients to 1e-9 (up to the
    common factor) and the pair delays to 1e-15 s (well under 1e-6 of a sample)."""
    sim = rc.ReciprocitySim(seed=3)
    G, H = sim.channels(0.0, noise=False)
    est = rc.ml_tls(rc.equivalent_channel(G, H), sim.df, sim.subcarriers())
    t_bs, t_ue = relative_truth(sim)
    e_bs, e_ue = est.relative()
    assert np.max(np.abs(e_bs - t_bs)) < 1e-9
    assert np.max(np.abs(e_ue - t_ue)) < 1e-9
    assert np.max(np.abs(est.tau - sim.truth["tau"])) < 1e-15
    # the per-node timing offsets follow (relative to BS 0), as the paper derives them
    d_bs, d_ue = rc.node_offsets(est.tau)
    assert np.allclose(d_bs, sim.d_bs - sim.d_bs[0], atol=1e-15, rtol=0)
    assert np.allclose(d_ue, sim.d_ue - sim.d_bs[0], atol=1e-15, rtol=0)


@pytest.mark.parametrize("name", rc.ALGORITHMS)
def test_noise_free_every_algorithm_exact_without_timing_offsets(name):
    """Without timing offsets the baselines' model holds exactly: all four
    recover the relative coefficients to 1e-9."""
    sim = rc.ReciprocitySim(seed=4)
    G, H = sim.channels(0.0, noise=False, timing=False)
    est = rc.estimate(name, G, H, sim.subcarriers(), sim.df)
    t_bs, t_ue = relative_truth(sim)
    e_bs, e_ue = est.relative()
    assert np.max(np.abs(e_bs - t_bs)) < 1e-9, name
    assert np.max(np.abs(e_ue - t_ue)) < 1e-9, name


def test_ml_pair_off_grid_delay_any_comb():
    """A delay between FFT grid points and an irregular pilot set: ML refines
    past the grid to 1e-15 s."""
    df = 120e3
    for s in (4 * np.arange(100) + 2, np.array([0, 3, 4, 9, 15, 22, 30, 31, 40, 57])):
        for tau in (3.3e-9, -7.123456e-9):
            g = (0.3 - 0.4j) * np.exp(-4j * np.pi * s * df * tau)
            t, c = rc.ml_pair(g, s, df)
            assert abs(t - tau) < 1e-15 and abs(c - (0.3 - 0.4j)) < 1e-12


# ---------------------------------------------------------------- noise
def test_ml_tls_reaches_the_crlb():
    """g-model with complex Gaussian noise (eq. 23): ML-TLS relative BS phase
    RMSE within [0.85, 1.2] of the CRLB (derived in crlb_phase_deg from the
    Fisher information of all amplitudes, phases and delays), 400 trials."""
    rng = np.random.default_rng(11)
    M, N, K, df = 4, 4, 64, 120e3
    s = 4 * np.arange(K)
    c_bs = (1 + 0.1 * rng.standard_normal(M)) * np.exp(1j * rng.uniform(-np.pi, np.pi, M))
    c_ue = (1 + 0.1 * rng.standard_normal(N)) * np.exp(1j * rng.uniform(-np.pi, np.pi, N))
    tau = rng.uniform(-20e-9, 20e-9, (M, N))
    g0 = (c_ue[None, :] / c_bs[:, None])[:, :, None] * np.exp(-4j * np.pi * s * df * tau[:, :, None])
    for snr_db in (0.0, 15.0):
        nv = 10 ** (-snr_db / 10)
        crlb = rc.crlb_phase_deg(c_bs, c_ue, tau, s, df, nv)
        errs = []
        for _ in range(400):
            noise = rng.standard_normal(g0.shape) + 1j * rng.standard_normal(g0.shape)
            est = rc.ml_tls(g0 + np.sqrt(nv / 2) * noise, df, s)
            errs.append(rc.phase_errors_deg(est, c_bs)[1:])
        rmse = np.sqrt(np.mean(np.square(errs), axis=0))
        ratio = np.sqrt(np.mean(rmse ** 2) / np.mean(crlb ** 2))
        assert 0.85 < ratio < 1.2, (snr_db, rmse, crlb)


def test_ordering_at_table_one_settings():
    """Table I (timing offsets U(-10, 10) ns): ML-TLS beats Argos, Argos mean and
    TLS in phase RMSE at every power, by at least 10x from 0 dBm, and its
    beamforming gain comes within 0.5 dB of the ideal from 0 dBm up while the
    baselines stay near non-coherent combining."""
    sim = rc.ReciprocitySim(seed=7)
    rows = rc.compare(sim, [-10.0, 0.0, 10.0], trials=4)
    by = {(r[0], r[1]): r for r in rows}
    for p in (-10.0, 0.0, 10.0):
        ml = by[(p, "ml-tls")]
        for base in ("argos", "argos-mean", "tls"):
            assert ml[2] < by[(p, base)][2], (p, base)
            if p >= 0:
                assert 10 * ml[2] < by[(p, base)][2], (p, base)
                assert by[(p, base)][3] < ml[4] - 3.0
        if p >= 0:
            assert ml[3] > ml[4] - 0.5, ml
    # and the gain metric's ends: perfect knowledge gives the ideal, garbage ~ M
    G, H = sim.channels(0.0, noise=False)
    perfect = rc.Calibration(sim.truth["c_bs"], sim.truth["c_ue"], sim.truth["tau"])
    got, ideal = rc.beamforming_gain_db(perfect, G, H, sim.subcarriers(), sim.df)
    assert abs(got - ideal) < 1e-9
    M = sim.M
    assert ideal <= 20 * np.log10(M) + 1e-9


# ---------------------------------------------------------------- tracking
def _track(sim, period, slots, power=10.0):
    """Calibrate at t = 0, then SRS every `period` slots; returns the per-slot
    phase error (deg) of each pair's tracked coefficient against the truth."""
    s = sim.subcarriers()
    G0, H0 = sim.channels(power, 0.0)
    c0 = rc.ml_tls(rc.equivalent_channel(G0, H0), sim.df, s).c_pair
    tr = rc.PhaseTracker(c0, np.zeros(c0.shape), 0.0)
    errs = []
    for slot in range(1, slots + 1):
        t = slot * sim.slot_s
        if slot % period == 0:
            _, H = sim.channels(power, t)
            tr.update(t, rc.pilot_phase(H, H0))
        Gt, Ht = sim.channels(0.0, t, noise=False)      # truth at t: ratio of both ways
        g = Ht / Gt * np.exp(4j * np.pi * s * sim.df * sim.truth["tau"][:, :, None])
        c_true = np.mean(g, axis=2)
        errs.append(np.degrees(np.abs(np.angle(tr.coefficient(t) / c_true))))
    return np.array(errs), tr


def test_tracking_follows_a_drifting_offset_above_nyquist():
    """Offsets U(-30, 30) ppb at 26 GHz (pairs up to 1.3 kHz one-way) drifting
    by +-800 Hz/s for 2000 slots (0.25 s), pilots at 10 dBm: SRS every 2 slots
    (4 kHz, above twice every pair's offset) keeps every pair coefficient within
    2 deg in every slot from the first pilot on (0.5 deg RMS; the pair estimates
    carry the pilot noise and the loop's lag behind the drift); before the first
    pilot no frequency estimate exists. The frequency estimates end within 4 Hz
    of the truth."""
    sim = rc.ReciprocitySim(seed=5, freq_drift_hz_s=800.0)
    nu = sim.nu_ue[None, :] - sim.nu_bs[:, None]
    assert np.max(np.abs(nu)) + 2 * 800 * 0.25 < 0.5 / (2 * sim.slot_s)  # the premise
    errs, tr = _track(sim, 2, 2000)
    assert errs[1:].max() < 2.0, errs[1:].max()
    assert np.sqrt(np.mean(errs[1:] ** 2)) < 0.5
    t_end = 2000 * sim.slot_s
    (bs_now, ue_now), (bs_before, ue_before) = sim.lo_phase(t_end), \
        sim.lo_phase(t_end - 2 * sim.slot_s)
    nu_end = ((ue_now[None, :] - bs_now[:, None]) - (ue_before[None, :] - bs_before[:, None])) \
        / (2 * np.pi * 2 * sim.slot_s)
    # achieved (seed 5): 1.28 deg max, 0.33 deg RMS, 1.3 Hz
    assert np.max(np.abs(tr.freq_hz - nu_end)) < 4.0
    # untracked, the coefficients would have turned far away
    drift = 2 * 360 * np.abs(nu) * t_end
    assert np.median(drift) > 90


def test_tracking_fails_below_nyquist():
    """SRS every 8 slots (1 kHz): pairs whose offset exceeds half the pilot rate
    alias and lose track (RMS error > 30 deg); pairs below it still track
    (RMS < 1 deg), counted from the first pilot on."""
    sim = rc.ReciprocitySim(seed=5)
    period = 8
    rate = 1.0 / (period * sim.slot_s)
    nu = np.abs(sim.nu_ue[None, :] - sim.nu_bs[:, None])
    above, below = nu > 0.55 * rate, nu < 0.45 * rate
    assert above.sum() >= 5 and below.sum() >= 5
    errs, _ = _track(sim, period, 400)
    rms = np.sqrt(np.mean(errs[period:] ** 2, axis=0))
    assert np.all(rms[above] > 30), rms[above]
    assert np.all(rms[below] < 1.0), rms[below]


def test_frequency_offsets_doubling():
    """The coefficient turns at twice the one-way offset: frequency_offsets
    halves the slope back, node_offsets solves the nodes relative to BS 0."""
    sim = rc.ReciprocitySim(seed=8)
    s = sim.subcarriers()
    cs = []
    for k in range(40):
        G, H = sim.channels(0.0, k * sim.slot_s, noise=False)
        cs.append(rc.ml_tls(rc.equivalent_channel(G, H), sim.df, s).c_pair)
    nu = rc.frequency_offsets(np.array(cs), sim.slot_s)
    truth = sim.nu_ue[None, :] - sim.nu_bs[:, None]
    assert np.max(np.abs(nu - truth)) < 1e-6
    f_bs, f_ue = rc.node_offsets(nu)
    assert np.allclose(f_bs, sim.nu_bs - sim.nu_bs[0], atol=1e-6)
    assert np.allclose(f_ue, sim.nu_ue - sim.nu_bs[0], atol=1e-6)


# ---------------------------------------------------------------- bad input
def test_bad_input_clear_errors():
    sim = rc.ReciprocitySim(M=3, N=2, seed=1)
    G, H = sim.channels(10.0)
    s = sim.subcarriers()
    with pytest.raises(UserError, match=r"shape \(M, N, K\)"):
        rc.ml_tls(G[0], sim.df, s)
    with pytest.raises(UserError, match="H \\(uplink\\) has shape"):
        rc.tls(G, H[:, :1])
    bad = G.copy()
    bad[1, 0, 3] = np.nan
    with pytest.raises(UserError, match="NaN"):
        rc.argos(bad, H)
    dead = H.copy()
    dead[2] = 0
    for f in (rc.argos, rc.argos_mean, rc.tls):
        with pytest.raises(UserError, match="no signal from BS node 2"):
            f(G, dead)
    with pytest.raises(UserError, match="no signal from BS node 2"):
        rc.ml_tls(rc.equivalent_channel(G, H) * (np.arange(3) != 2)[:, None, None], sim.df, s)
    with pytest.raises(UserError, match="subcarriers has"):
        rc.ml_tls(H / G, sim.df, s[:-1])
    with pytest.raises(UserError, match="unknown reciprocity algorithm"):
        rc.estimate("music", G, H, s, sim.df)
    with pytest.raises(UserError, match="not after"):
        tr = rc.PhaseTracker(np.ones(2), np.zeros(2), 1.0)
        tr.update(1.0, np.zeros(2))


# ---------------------------------------------------------------- blocks
class RawCollector(gr.basic_block):
    """Keeps the PMTs it gets on "in"; `enough` is set at `expect` messages."""

    def __init__(self, expect):
        gr.basic_block.__init__(self, name="raw_collector", in_sig=None, out_sig=None)
        self.messages, self.expect = [], expect
        self.enough = threading.Event()
        self.message_port_register_in(pmt.intern("in"))
        self.set_msg_handler(pmt.intern("in"), self._handle)

    def _handle(self, msg):
        self.messages.append(msg)
        if len(self.messages) >= self.expect:
            self.enough.set()


def _run_nodes(M, N, slots, period, method="ml-tls"):
    """All node simulators -> calibrator + tracker in one flowgraph, run until
    the tracker has reported every pilot round (bounded), then stopped."""
    tb = gr.top_block()
    cal = rb.reciprocity_calibrator(M, N, 120e3, method)
    trk = rb.reciprocity_tracker(M, N)
    out_cal, out_trk = RawCollector(1), RawCollector(slots // period)
    tb.msg_connect(cal, "calib", trk, "calib")
    tb.msg_connect(cal, "calib", out_cal, "in")
    tb.msg_connect(trk, "calib", out_trk, "in")
    # keep the Python blocks referenced until the flowgraph is gone: the
    # scheduler calls their stop() when it tears down
    nodes = [rb.reciprocity_node_sim(role, i, M, N, 2, 10.0, slots, period)
             for role, n in (("bs", M), ("ue", N)) for i in range(n)]
    for node in nodes:
        tb.msg_connect(node, "csi", cal, "csi")
        tb.msg_connect(node, "csi", trk, "csi")
    tb.start()
    try:
        assert out_trk.enough.wait(120), (len(out_cal.messages), len(out_trk.messages))
    finally:
        tb.stop()
        tb.wait()
    del tb
    return cal, trk, out_cal, out_trk


def test_message_blocks_calibrate_and_track():
    """Node simulators -> calibrator -> tracker: the calibration equals the
    library's ML-TLS on the same world to 1e-12, and the tracked coefficients
    at the last pilot match the truth then within 0.8 deg (achieved, seed 2: 0.27)."""
    M, N, slots, period = 3, 2, 40, 2
    cal, trk, out_cal, out_trk = _run_nodes(M, N, slots, period)
    assert len(out_cal.messages) == 1
    got = rb.parse_calibration(out_cal.messages[0])
    sim = rc.ReciprocitySim(M=M, N=N, seed=2)
    G, H = sim.channels(10.0, 0.0)
    ref = rc.ml_tls(rc.equivalent_channel(G, H), sim.df, sim.subcarriers())
    e_bs, _ = ref.relative()
    assert np.max(np.abs(got["c_bs"] / got["c_bs"][0] - e_bs)) < 1e-12
    assert np.allclose(got["tau"], ref.tau, atol=1e-18, rtol=0)
    # tracking: one update per pilot round, the last at the last slot
    assert len(out_trk.messages) == slots // period
    last = rb.parse_calibration(out_trk.messages[-1])
    t = slots * sim.slot_s
    assert abs(last["time"] - t) < 1e-12
    lo_bs, lo_ue = sim.lo_phase(t)
    true_bs = sim.truth["c_bs"] * np.exp(2j * lo_bs)   # c_pair(t) = c_ue/c_bs e^{2j(lo_ue-lo_bs)}
    rel = last["c_bs"] / last["c_bs"][0]
    err = np.degrees(np.abs(np.angle(rel / (true_bs / true_bs[0]))))
    assert err.max() < 0.8, err
    assert cal.dropped == 0 and trk.dropped == 0


def test_message_blocks_count_bad_messages():
    """Malformed CSI is dropped with a counted warning, never raised."""
    cal = rb.reciprocity_calibrator(2, 1, 120e3)
    bad = [pmt.intern("hello"),
           rb.csi_message("dl", 5, 0, 0.0, [0, 1], [1, 1]),          # node out of range
           pmt.dict_add(rb.csi_message("ul", 0, 0, 0.0, [0, 1], [1, 1]),
                        pmt.intern("h"), pmt.init_c64vector(2, [complex("nan"), 1]))]
    trk = rb.reciprocity_tracker(2, 1)
    for m in bad:
        cal._csi(m)
        trk._csi(m)
    assert cal.dropped == 3 and trk.dropped == 3
    with pytest.raises(UserError, match="unknown method"):
        rb.reciprocity_calibrator(2, 1, 120e3, "music")


# ---------------------------------------------------------------- CLI
def test_cli_simulate_prints_the_table():
    p = run_cli("reciprocity", "simulate", "--powers=-10,10", "--trials", "2", "--seed", "3")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.strip().startswith("power dBm"))
    rows = [line.split() for line in lines[head + 1:]]
    assert [float(r[0]) for r in rows] == [-10.0, 10.0]
    deg = {float(r[0]): [float(x) for x in r[1:5]] for r in rows}
    assert deg[10.0][3] < min(deg[10.0][:3])        # ML-TLS column best
    bad = run_cli("reciprocity", "simulate", "--powers", "abc")
    assert_one_line_error(bad, "--powers")
    bad = run_cli("reciprocity", "calibrate", "--listen", "tcp://127.0.0.1:1", "--out",
                  "/dev/null/dir/x.jsonl")
    assert_one_line_error(bad, "does not exist")


@pytest.mark.timeout(300)
def test_distributed_nodes_over_zmq(tmp_path):
    """Calibrator and every node as separate processes over gr-zeromq on
    loopback: the calibrator's ML-TLS equals the library's on the same seeded
    world, every pilot round is tracked, and each node gets the coefficients."""
    M, N, slots, period, seed = 3, 2, 20, 2, 4
    csi, coef = (f"tcp://127.0.0.1:{free_tcp_port()}" for _ in range(2))
    rounds = slots // period
    cal = subprocess.Popen(
        [ARRAYCAL, "reciprocity", "calibrate", "--listen", csi, "--publish", coef,
         "--bs", str(M), "--ue", str(N), "--out", str(tmp_path / "cal.jsonl"),
         "--count", str(1 + rounds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    nodes = []
    try:
        ready = cal.stdout.readline()          # printed once the PULL socket is bound
        assert "listening" in ready, ready + cal.stderr.read()
        for role, n in (("bs", M), ("ue", N)):
            for i in range(n):
                nodes.append(subprocess.Popen(
                    [ARRAYCAL, "reciprocity", "node", "--role", role, "--index", str(i),
                     "--bs", str(M), "--ue", str(N), "--seed", str(seed), "--slots", str(slots),
                     "--pilot-period", str(period), "--connect", csi, "--subscribe", coef,
                     "--out", str(tmp_path / f"{role}{i}.jsonl"), "--timeout", "120"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        out, err = cal.communicate(timeout=200)
        assert cal.returncode == 0, out + err
        for p in nodes:
            o, e = p.communicate(timeout=60)
            assert p.returncode == 0, o + e
    finally:
        for p in [cal] + nodes:
            if p.poll() is None:
                p.kill()
                p.wait()
    recs = rb.read_log(tmp_path / "cal.jsonl")
    assert [r["method"] for r in recs] == ["ml-tls"] + ["tracked"] * rounds
    sim = rc.ReciprocitySim(M=M, N=N, seed=seed)
    G, H = sim.channels(10.0, 0.0)
    ref = rc.ml_tls(rc.equivalent_channel(G, H), sim.df, sim.subcarriers())
    e_bs, e_ue = ref.relative()
    c = recs[0]
    assert np.max(np.abs(c["c_bs"] / c["c_bs"][0] - e_bs)) < 1e-12
    assert np.max(np.abs(c["c_ue"] / c["c_bs"][0] - e_ue)) < 1e-12
    assert np.allclose(recs[-1]["time"], slots * sim.slot_s, rtol=0, atol=1e-12)
    for role, n in (("bs", M), ("ue", N)):
        for i in range(n):
            got = rb.read_log(tmp_path / f"{role}{i}.jsonl")
            assert got and got[-1]["time"] >= (slots * sim.slot_s if role == "bs" else 0) - 1e-12
