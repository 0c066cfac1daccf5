#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The main job end to end: arraycal demo, the emulator, and three radios over ZMQ."""

import os
import re
import signal
import subprocess

import numpy as np
import pytest

from gnuradio.arraycal.calibration import geometry, store as calstore
from gnuradio.arraycal.sim import emulator
from gnuradio.arraycal.sim.demo import run_demo

from conftest import ARRAYCAL, PY, REPO, free_tcp_port, run_cli


def offset_errors(doc, truth):
    out = []
    for e in doc["elements"]:
        z = complex(e["offset"]["re"], e["offset"]["im"])
        out.append((abs(np.degrees(np.angle(z / truth[e["id"]]))),
                    abs(20 * np.log10(abs(z) / abs(truth[e["id"]])))))
    return max(o[0] for o in out), max(o[1] for o in out)


@pytest.mark.timeout(600)
def test_cli_demo_at_reduced_length_meets_the_truth(tmp_path):
    # the README's first command, shorter: stated tolerance 0.5 deg, 0.05 dB; achieved
    # (seed 1, printed to 0.001): 0.031 deg, 0.007 dB with the vectorised emulator; bounds
    # about 3x
    p = run_cli("demo", "--duration", "6", "--quiet", "--out", tmp_path / "demo",
                "--store", tmp_path / "store", timeout=500)
    assert p.returncode == 0, p.stderr
    m = re.search(r"worst error: ([\d.]+) deg, ([\d.]+) dB", p.stdout)
    assert m, p.stdout
    print(f"cli demo: {m.group(1)} deg {m.group(2)} dB")
    assert float(m.group(1)) < 0.1 and float(m.group(2)) < 0.025
    assert "true amp_dB" in p.stdout
    doc = calstore.load(tmp_path / "demo" / "calibration.json")
    assert doc["simulated"] and doc["array"] == "outdoor-2el"
    assert len(calstore.Store(tmp_path / "store").entries()) == 1
    for f in ("los.csv", "report.txt", "track.png", "tx.ubx", "rx.ubx"):
        assert (tmp_path / "demo" / f).is_file()


# achieved (seed 1): turntable 0.139 deg, 0.0013 dB; orbit 0.0074 deg, 0.0012 dB
DEMO_BOUNDS = {"turntable": (0.42, 0.004), "orbit": (0.025, 0.004)}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("scenario,elements,freq,method", [
    ("turntable", 4, 3e9, "fft"),
    ("orbit", 2, 1.3e9, "apes"),
])
def test_demo_scenarios(scenario, elements, freq, method, tmp_path):
    r = run_demo(str(tmp_path / "d"), scenario, freq, 1e6, 5.0, elements, method,
                 store=str(tmp_path / "s"), progress=False)
    ph, db = offset_errors(r["doc"], r["truth"])
    print(f"demo {scenario}: {ph:.4f} deg {db:.5f} dB")
    assert ph < DEMO_BOUNDS[scenario][0] and db < DEMO_BOUNDS[scenario][1], (ph, db)
    assert r["doc"]["quality"]["frames_used"] > 3000


@pytest.mark.timeout(600)
def test_unresolved_ground_reflection_biases_as_the_two_ray_model_says(tmp_path):
    # a ground reflection in the turntable geometry (5 m, image 3 m down) is
    # 0.68 m behind the LoS: unresolvable at 1 MS/s. Each element's LoS is then
    # g_k (1 + G d_k/dr_k exp(-j k (dr_k - d_k))): the per-frame offsets the
    # chain measures (geometry removed) must average, on the circle, to the
    # mean phase of that factor's ratio, computed here in closed form. (The
    # stored offset is a robust mean, which trims the tails of this broad
    # spread; trimming is tested on its own.) Exact positions: 25 fixes with
    # 1 cm of noise would add ~0.1 deg of uncertainty to the mean.
    r = run_demo(str(tmp_path / "d"), "turntable", 3e9, 1e6, 5.0, 4, "fft",
                 store=str(tmp_path / "s"), progress=False, reflection=-0.3, gnss_sigma=0.0)
    arr, emu = r["array"], r["emulator"]
    lam = 299792458.0 / 3e9
    E = arr.element_enu()
    ratios = {k: [] for k in range(4)}
    for t in np.linspace(0, 5.0, 2000):
        tx = emu.traj(t, 5.0)
        img = tx.copy()
        img[2] = -2 * 1.5 - tx[2]
        f = []
        for k in range(4):
            d, dr = np.linalg.norm(tx - E[k]), np.linalg.norm(img - E[k])
            f.append(1 - 0.3 * d / dr * np.exp(-2j * np.pi * (dr - d) / lam))
        for k in range(4):
            ratios[k].append(f[k] / f[0])
    measured, _ = r["estimator"].compensated()
    for k, e in enumerate(arr.elements):
        z = measured[:, k] / r["truth"][e.id]
        got = np.degrees(np.angle(np.mean(z / np.abs(z))))
        want = np.array(ratios[k])
        want_deg = np.degrees(np.angle(np.mean(want / np.abs(want))))
        print(f"two-ray {e.id}: mean {got:.4f} deg (model {want_deg:.4f}), spread "
              f"{np.degrees(np.std(np.angle(z))):.4f} (model {np.degrees(np.std(np.angle(want))):.4f})")
        # achieved (seed 1): mean within 0.006 deg, spread within 0.05 deg of the model
        assert got == pytest.approx(want_deg, abs=0.02), e.id
        assert np.degrees(np.std(np.angle(z))) == pytest.approx(
            np.degrees(np.std(np.angle(want))), abs=0.15)
    # the bias is real and large: a chamber with a ground would not calibrate to 1 deg
    assert max(abs(np.degrees(np.angle(np.mean(np.array(v))))) for v in ratios.values()) > 1.0


def test_emulator_truth_and_geometry():
    arr = geometry.load_array(REPO / "examples" / "arrays" / "chamber_4el.yaml")
    emu = emulator.channel_emulator(arr, 3e9, 1e6, "turntable", 10.0, seed=5)
    t = emu.truth()
    assert t["E0"] == 1 and len(t) == 4
    assert all(abs(abs(v) - 1) < 0.5 for v in t.values())
    # the trajectories stay where they should: the turntable at 5 m
    f = emulator.make_trajectory("turntable")
    r = [np.linalg.norm(f(x, 10.0)) for x in np.linspace(0, 10, 21)]
    assert np.allclose(r, 5.0)
    with pytest.raises(ValueError, match="unknown scenario"):
        emulator.make_trajectory("bogus")


@pytest.mark.timeout(300)
def test_three_radios_over_zmq_loopback(tmp_path):
    """Transmitter, emulated channel and receiver as three processes on loopback."""
    ex = REPO / "examples" / "loopback_zmq"
    build = tmp_path / "build"
    build.mkdir()
    env = dict(os.environ)
    env.pop("GRC_BLOCKS_PATH", None)
    subprocess.run(["grcc", "-o", str(build), str(ex / "emulator.grc")], check=True,
                   capture_output=True, timeout=120, env=env)
    a, b, c = (f"tcp://127.0.0.1:{free_tcp_port()}" for _ in range(3))
    dur = 8
    procs = []
    try:
        procs.append(subprocess.Popen([ARRAYCAL, "tx", "--sink", f"zmq:{a}", "--rate", "1e6"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        procs.append(subprocess.Popen(
            [PY, str(build / "loopback_emulator.py"), "--in-addr", a, "--out-addr", b,
             "--gnss-addr", c, "--array", str(ex / "array.yaml"), "--samp-rate", "1e6",
             "--duration", str(dur), "--tx-ubx", str(tmp_path / "tx.ubx"),
             "--rx-ubx", str(tmp_path / "rx.ubx")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(tmp_path)))
        rx = subprocess.run(
            [ARRAYCAL, "rx", "--source", f"zmq:{b}", "--channels", "2", "--rate", "1e6",
             "--freq", "1.3e9", "--duration", str(dur), "--out", str(tmp_path / "out"),
             "--array", str(ex / "array.yaml"), "--tx-gnss", str(tmp_path / "tx.ubx"),
             "--rx-gnss", str(tmp_path / "rx.ubx"), "--store", str(tmp_path / "store")],
            capture_output=True, text=True, timeout=240)
    finally:
        for p in procs:  # a ZMQ source never ends by itself: stop the other two
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    assert rx.returncode == 0, rx.stdout + rx.stderr
    doc = calstore.load(tmp_path / "out" / "calibration.json")
    arr = geometry.load_array(ex / "array.yaml")
    truth = emulator.random_offsets(arr.elements, arr.reference, 1)  # the emulator's seed 1
    ph, db = offset_errors(doc, {k: v / truth[arr.reference] for k, v in truth.items()})
    print(f"zmq: {ph:.4f} deg {db:.5f} dB")
    # achieved: 0.082 deg, 0.0088 dB (emulator seed 1; which frames arrive depends on
    # the three processes' timing, so a little more than 3x)
    assert ph < 0.3 and db < 0.03, (ph, db)
    assert doc["quality"]["frames_used"] > 4000
