#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Two-ray (ground reflection) calibration: simulated campaigns with known truth.

Most cases are LoS-level: every frame's LoS is what an unresolved reflection makes
of it, written out here from the image-source geometry (s_f eps_k (LoS + Gamma
image) + noise at the chain's LoS SNR, GNSS positions with RTK noise at 5 Hz,
interpolated), which keeps the matrix of geometries cheap. The whole chain (the
channel emulator, the C++ receive chain with FFT and APES) is run on the
measured case at a low rate."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gnuradio.arraycal.calibration import geometry, multipath
from gnuradio.arraycal.calibration.offsets import OffsetEstimator
from gnuradio.arraycal.errors import UserError

C = 299792458.0


def ula(n, spacing):
    return geometry.parse_array({
        "name": f"ula{n}", "heading_deg": 0.0, "gnss_antenna_m": [0.0, 0.0, 0.0],
        "reference": "E0",
        "elements": [{"id": f"E{i}", "channel": i,
                      "position_m": [(i - (n - 1) / 2) * spacing, 0.0, 0.0]}
                     for i in range(n)]})


def drone_arc(radius=25.0, altitude=15.0, span_deg=160.0):
    def pos(t, T):
        a = np.radians(-span_deg / 2 * np.cos(2 * np.pi * t / T))
        return np.stack([radius * np.sin(a), radius * np.cos(a), np.full_like(a, altitude)], -1)
    return pos


def snake(near=12.0, far=30.0, width=24.0, legs=4, height=0.0):
    def pos(t, T):
        u = np.clip(t / T, 0, 1) * legs
        leg = np.minimum(u.astype(int), legs - 1)
        f = u - leg
        x = np.where(leg % 2 == 0, -width / 2 + width * f, width / 2 - width * f)
        return np.stack([x, near + (far - near) * (leg + f) / legs, np.full_like(x, height)], -1)
    return pos


def fresnel_v(psi, er):
    s, c2 = np.sin(psi), np.cos(psi) ** 2
    return (er * s - np.sqrt(er - c2)) / (er * s + np.sqrt(er - c2))


def campaign(n, freq, traj, gamma_db=None, gamma_phase_deg=180.0, ground=6.0, duration=30.0,
             rate=100.0, los_snr_db=51.0, gnss_sigma=0.01, seed=1, permittivity=None):
    """LoS frames of a campaign (20 dB per sample + the packet's 31 dB of processing gain
    = 51 dB per LoS). Returns the estimator (array file without a ground height) and the
    true offsets."""
    rng = np.random.default_rng(seed)
    lam = C / freq
    arr = ula(n, lam / 2)
    elem = arr.element_enu()
    eps = 10 ** (rng.normal(0, 1.0, n) / 20) * np.exp(1j * rng.uniform(-np.pi, np.pi, n))
    eps[0] = 1.0
    t = np.arange(0, duration, 1 / rate)
    tx = traj(t, duration)
    d = np.linalg.norm(tx[:, None] - elem[None], axis=2)
    img = tx * [1, 1, -1] - [0, 0, 2 * ground]
    r = np.linalg.norm(img[:, None] - elem[None], axis=2)
    if permittivity is not None:
        # grazing angle: heights above ground of element and transmitter over the path
        psi = np.arcsin((2 * ground + tx[:, None, 2] + elem[None, :, 2]) / r)
        g = fresnel_v(psi, permittivity)
    elif gamma_db is None:
        g = 0.0
    else:
        g = 10 ** (gamma_db / 20) * np.exp(1j * math.radians(gamma_phase_deg))
    k = 2 * np.pi / lam
    h = np.exp(-1j * k * d) / d + g * np.exp(-1j * k * r) / r
    s = np.mean(d) * np.exp(1j * rng.uniform(-np.pi, np.pi, len(t)))
    a = s[:, None] * eps[None] * h
    sig = np.abs(a) * 10 ** (-los_snr_db / 20) / math.sqrt(2)
    a = a + sig * (rng.standard_normal(a.shape) + 1j * rng.standard_normal(a.shape))
    te = np.arange(-1, duration + 1, 0.2)
    pe = traj(np.clip(te, 0, duration), duration) + rng.normal(0, gnss_sigma, (len(te), 3)) * \
        [1, 1, 1.5]
    txm = np.stack([np.interp(t, te, pe[:, j]) for j in range(3)], -1)
    est = OffsetEstimator.from_frames(arr, freq, t, a, txm, np.full(a.shape, los_snr_db))
    return est, eps


def worst(result, eps):
    z = result.offsets() / eps
    return (float(np.max(np.abs(np.degrees(np.angle(z))))),
            float(np.max(np.abs(20 * np.log10(np.abs(z))))))


@pytest.mark.timeout(300)
def test_measured_case_drone_arc_8_elements_3_ghz():
    # 8 elements, lambda/2, 3 GHz, array 6 m above flat ground, a drone on a 160 deg
    # arc 25 m out and 15 m up, reflection -10.5 dB: the LoS-only model is biased,
    # the two-ray term brings it to the stated target (<= 2 deg, <= 0.2 dB)
    est, eps = campaign(8, 3e9, drone_arc(), -10.5, ground=6.0)
    today = worst(est.estimate(), eps)
    assert today[0] > 1.0 and today[1] > 1.0, today
    r = est.estimate(ground=multipath.GroundModel(height_m=6.0))
    fit = r.two_ray
    assert fit.used
    ph, db = worst(r, eps)
    assert ph <= 0.5 and db <= 0.2, (ph, db)
    assert fit.gamma_db == pytest.approx(-10.5, abs=0.5)
    assert fit.residual_rms_two_ray < 0.3 * fit.residual_rms_los


CASES = [  # trajectory, GHz, elements, reflection dB, phase deg, ground m, given
    ("snake", 1.3, 2, -6.0, 180.0, 1.5, True),
    ("snake", 3.0, 4, -10.0, 150.0, 1.5, False),
    ("snake", 6.0, 4, -20.0, 180.0, 1.5, True),
    ("snake", 3.0, 8, -6.0, -160.0, 2.0, False),
    ("arc", 1.3, 4, -6.0, 180.0, 6.0, True),
    ("arc", 6.0, 2, -20.0, 170.0, 3.0, False),
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("traj,ghz,n,gdb,gph,ground,known", CASES)
def test_two_ray_recovers_offsets(traj, ghz, n, gdb, gph, ground, known):
    # RTK-grade positions (1 cm, 1.5 cm vertical), 20 dB per sample: within 1 deg and
    # 0.1 dB, the ground height given (refined within 0.1 m) or searched in 0.5..20 m
    path = snake() if traj == "snake" else drone_arc()
    est, eps = campaign(n, ghz * 1e9, path, gdb, gph, ground=ground, duration=20.0, seed=n)
    r = est.estimate(ground=multipath.GroundModel(height_m=ground if known else None))
    ph, db = worst(r, eps)
    assert ph < 1.0 and db < 0.1, (ph, db, r.two_ray.note)
    if r.two_ray.used and known:
        # (with the height unknown only Gamma times the image's spreading loss d / r is
        # identified on an arc, not Gamma alone)
        assert r.two_ray.gamma_db == pytest.approx(gdb, abs=1.5)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("known", [True, False])
def test_no_reflection_equals_todays_estimate(known):
    # no ground in the data: the two-ray term is rejected (or harmless) and the offsets
    # equal the LoS-only estimate within its noise
    est, eps = campaign(4, 3e9, snake(), None, ground=1.5, duration=20.0, seed=11)
    today = est.estimate()
    r = est.estimate(ground=multipath.GroundModel(height_m=1.5 if known else None))
    assert not r.two_ray.used, r.two_ray.note
    for a, b in zip(today.elements, r.elements):
        assert a.offset == b.offset
    assert worst(r, eps)[0] < 0.2


@pytest.mark.timeout(300)
def test_fresnel_ground_with_permittivity():
    # a dry-soil ground (eps_r 6 - 0.5j, vertical polarisation) under a walker whose
    # grazing angle changes along the walk: Fresnel's model fits the permittivity
    est, eps = campaign(4, 3e9, snake(), ground=2.0, duration=20.0, permittivity=6 - 0.5j,
                        seed=4)
    r = est.estimate(ground=multipath.GroundModel(height_m=2.0, fresnel="v"))
    assert r.two_ray.used
    ph, db = worst(r, eps)
    assert ph < 1.0 and db < 0.1, (ph, db)
    assert r.two_ray.permittivity.real == pytest.approx(6.0, rel=0.2)


def test_fresnel_coefficient_limits():
    # grazing incidence reflects -1 for both polarisations; normal incidence gives
    # (1 - n) / (1 + n) (h) and its negative (v: the sign convention of E parallel)
    er = 9.0
    assert multipath.fresnel(1e-9, er, "h") == pytest.approx(-1, abs=1e-6)
    assert multipath.fresnel(1e-9, er, "v") == pytest.approx(-1, abs=1e-6)
    assert multipath.fresnel(np.pi / 2, er, "h") == pytest.approx((1 - 3) / (1 + 3))
    assert multipath.fresnel(np.pi / 2, er, "v") == pytest.approx((3 - 1) / (3 + 1))


def test_image_geometry_closed_form():
    # transmitter 10 m out and 2 m up, ground 3 m below: image 8 m below the antenna
    r, psi = multipath.image_geometry(np.array([[0.0, 10.0, 2.0]]), np.zeros((1, 3)), 3.0)
    assert r[0, 0] == pytest.approx(math.hypot(10.0, 8.0))
    assert psi[0, 0] == pytest.approx(math.atan2(8.0, 10.0))


def test_ground_model_rejects_bad_input():
    with pytest.raises(UserError, match="positive"):
        multipath.GroundModel(height_m=-1.0)
    with pytest.raises(UserError, match="bounds"):
        multipath.GroundModel(height_bounds_m=(5.0, 1.0))
    with pytest.raises(UserError, match="polarisation"):
        multipath.GroundModel(fresnel="x")


def _doc(**kw):
    d = {"name": "a", "heading_deg": 0.0, "gnss_antenna_m": [0, 0, 0], "reference": "A",
         "elements": [{"id": "A", "channel": 0, "position_m": [0, 0, 0]}]}
    d.update(kw)
    return d


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                 st.booleans(), st.none()))
def test_array_file_ground_height_property(v):
    # any positive finite number is kept; anything else is one clear error
    ok = (isinstance(v, float) and math.isfinite(v) and v > 0)
    if v is None:
        assert geometry.parse_array(_doc(ground_height_m=v)).ground_height_m is None
        return
    if ok:
        a = geometry.parse_array(_doc(ground_height_m=v))
        assert a.ground_height_m == v
        assert geometry.array_to_dict(a)["ground_height_m"] == v
    else:
        try:
            fv = float(v)
            ok = not isinstance(v, bool) and math.isfinite(fv) and fv > 0
        except (TypeError, ValueError):
            ok = False
        if ok:
            assert geometry.parse_array(_doc(ground_height_m=v)).ground_height_m == float(v)
        else:
            with pytest.raises(UserError, match="ground_height_m"):
                geometry.parse_array(_doc(ground_height_m=v))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("method", ["fft", "apes"])
def test_whole_chain_measured_case(method, tmp_path):
    # the measured case through the real flowgraph: channel emulator (8 elements, 3 GHz,
    # ground 6 m below, a drone arc 25 m out and 15 m up, reflection -10.5 dB, 1 cm RTK
    # noise), the C++ receive chain, the GNSS reader; at 1 MS/s for 6 s to keep it cheap.
    # Today's model is off by several degrees; the two-ray fit reaches the target
    # (<= 2 deg, <= 0.2 dB) with the height given, and with it searched.
    from gnuradio.arraycal.sim.demo import run_demo
    r = run_demo(str(tmp_path / "d"), "orbit", 3e9, 1e6, 6.0, 8, method, store=False,
                 progress=False, reflection=-0.3, ground_height_m=6.0, two_ray=True)
    truth, est = r["truth"], r["estimator"]

    def err(res):
        z = np.array([e.offset / truth[e.id] for e in res.elements])
        return (float(np.max(np.abs(np.degrees(np.angle(z))))),
                float(np.max(np.abs(20 * np.log10(np.abs(z))))))
    today = err(est.estimate(ground=False))
    assert today[0] > 4.0, today
    ph, db = err(r["result"])
    assert r["result"].two_ray.used
    assert ph <= 1.0 and db <= 0.15, (ph, db)
    assert r["doc"]["quality"]["two_ray"]["used"]
    assert (tmp_path / "d" / "two_ray.png").is_file()
    ph, db = err(est.estimate(ground=multipath.GroundModel()))
    assert ph <= 2.0 and db <= 0.2, (ph, db)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scenario,ground,perm", [("orbit", 6.0, None), ("snake", 1.5, None),
                                                  ("orbit", 20.0, 5 - 0.3j)])
def test_emulator_block_matches_exact_per_element_delays(scenario, ground, perm):
    # the emulator's block (the C++ channel_model) against the exact per-element,
    # per-path delay on the centred DFT grid computed here with numpy, with the noise and
    # phase noise off: within 2e-5 of the signal (float32 arithmetic; 4e-6 achieved)
    from gnuradio import arraycal
    from gnuradio.arraycal.sim import emulator
    from gnuradio.arraycal.sim.demo import demo_array
    arr = demo_array(8, 3e9)
    emu = emulator.channel_emulator(arr, 3e9, 4e6, scenario, 30.0, snr_db=400.0,
                                    phase_noise_deg=0.0, cfo_hz=1200.0, reflection_gamma=-0.3,
                                    ground_height_m=ground, ground_permittivity=perm, seed=2)
    emu._tagged = True
    pkt = arraycal.packet().astype(np.complex64)
    K, B = len(pkt), 4
    x = np.tile(pkt, B)
    start = 7 * K * 1000
    outs = [np.zeros(len(x), np.complex64) for _ in range(emu.nch)]
    emu._work_block(x, outs, start)
    lam, fs = C / 3e9, 4e6
    E = arr.element_enu()
    kc = np.fft.fftfreq(K) * K
    X = np.fft.fft(pkt.astype(complex))
    for b in range(B):
        tx = emu.traj((start + b * K) / fs, 30.0)
        img = tx * [1, 1, -1] - [0, 0, 2 * ground]
        ts = (start + b * K + np.arange(K)) / fs
        lo = np.exp(2j * np.pi * 1200.0 * ts)
        for k in range(8):
            H = np.zeros(K, complex)
            for p, g in ((tx, 1.0), (img, None)):
                d = np.linalg.norm(p - E[k])
                if g is None:
                    psi = math.asin((2 * ground + tx[2] + E[k, 2]) / d)
                    g = fresnel_v(psi, perm) if perm is not None else -0.3
                tau = d / C * fs
                Hp = g * lam / (4 * np.pi * d) * np.exp(-2j * np.pi * d / lam) * \
                    np.exp(-2j * np.pi * kc * tau / K)
                Hp[K // 2] = g * lam / (4 * np.pi * d) * np.exp(-2j * np.pi * d / lam) * \
                    np.cos(np.pi * tau)
                H += Hp
            want = np.fft.ifft(X * H * emu.eps_vec[k] * emu.scale) * lo
            got = outs[k][b * K:(b + 1) * K]
            assert np.max(np.abs(got - want)) < 2e-5 * np.max(np.abs(want)), (b, k)


@pytest.mark.timeout(300)
@settings(max_examples=6, deadline=None)
@given(st.one_of(st.tuples(st.just("--ground-height"),
                           st.one_of(st.floats(max_value=0.0, allow_nan=False),
                                     st.floats(min_value=1000.001, allow_infinity=False),
                                     st.just("nan"))),
                 st.tuples(st.just("--reflection"),
                           st.one_of(st.floats(min_value=1.0001, allow_infinity=False),
                                     st.floats(max_value=-1.0001, allow_infinity=False),
                                     st.just("nan")))))
def test_demo_cli_ground_numbers_property(arg):
    # out-of-range ground heights and reflection coefficients: one line, exit 2
    from conftest import assert_one_line_error, run_cli
    opt, v = arg
    p = run_cli("demo", "--quiet", opt, str(v), "--duration", "1")
    assert_one_line_error(p, opt)   # argparse names the option, whatever is wrong with it
