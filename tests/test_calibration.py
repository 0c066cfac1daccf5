#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Calibration on simulated campaigns with known truth, the store and the apply block."""

import json
import os

import numpy as np
import pmt
import pytest

from gnuradio import arraycal, blocks, gr
from gnuradio.arraycal.calibration import store as calstore
from gnuradio.arraycal.errors import UserError
from gnuradio.arraycal.calibration.pipeline import process

from conftest import assert_one_line_error, run_cli
from simcampaign import TWO_EL, simulate, snake_walk, turntable, ula

OFFSETS_4 = {"E0": 1.0, "E1": 0.9 * np.exp(1j * np.radians(37)),
             "E2": 1.12 * np.exp(-1j * np.radians(121)), "E3": 0.8 * np.exp(1j * np.radians(170))}
OFFSETS_2 = {"A": 1.0, "B": 0.85 * np.exp(-1j * np.radians(64))}


def errors(doc, truth):
    """Per element: (phase error deg, amplitude error dB) of the stored offsets."""
    out = {}
    for e in doc["elements"]:
        z = complex(e["offset"]["re"], e["offset"]["im"])
        t = truth[e["id"]]
        out[e["id"]] = (abs(np.degrees(np.angle(z / t))), abs(20 * np.log10(abs(z) / abs(t))))
    return out


def run(sim, out, **kw):
    return process(sim["meta"], sim["array"], sim["tx"], str(out), rx_gnss=sim["rx"],
                   progress=False, log=lambda m: None, store=str(out / "store"), **kw)


# achieved (seed 3): worst element 0.0061, 0.0068, 0.0115 deg and 0.0011, 0.0010, 0.0016 dB
# at 1.3, 3 and 6 GHz (the stated target is 1 deg, 0.1 dB); bounds about 3x
CHAMBER_BOUNDS = {1.3e9: (0.02, 0.0035), 3e9: (0.02, 0.003), 6e9: (0.035, 0.005)}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("freq", [1.3e9, 3e9, 6e9])
def test_chamber_sweep_recovers_offsets(freq, tmp_path):
    # turntable -90..90 deg at 5 m, 4-element ULA (5 cm), 20 dB per-sample SNR
    sim = simulate(tmp_path / "sim", ula(4, 0.05), OFFSETS_4, freq, 1e6, 6.0,
                   turntable(5.0, 0.0, 90.0), snr_db=20, gnss_sigma_m=0.001, seed=3)
    s = run(sim, tmp_path / "out")
    for eid, (ph, amp) in errors(s["doc"], sim["truth"]).items():
        print(f"chamber {freq:g} {eid}: {ph:.4f} deg {amp:.5f} dB")
        assert ph < CHAMBER_BOUNDS[freq][0], (eid, ph)
        assert amp < CHAMBER_BOUNDS[freq][1], (eid, amp)
    assert s["doc"]["quality"]["frames_used"] > 4000


@pytest.mark.timeout(600)
def test_outdoor_snake_walk_with_rtk_noise_and_ground_reflection(tmp_path):
    # thesis outdoor set-up: 2 elements 0.155 m apart, 1.3 GHz, RTK-grade (1 cm)
    # positions, a ground reflection (-0.3) from 1.5 m below, 20 dB SNR
    sim = simulate(tmp_path / "sim", TWO_EL, OFFSETS_2, 1.3e9, 2e6, 12.0,
                   snake_walk(heading_deg=30.0), snr_db=20, gnss_sigma_m=0.01,
                   reflection=(-0.3, 1.5), seed=5)
    s = run(sim, tmp_path / "out")
    ph, amp = errors(s["doc"], sim["truth"])["B"]
    print(f"snake: {ph:.4f} deg {amp:.5f} dB")
    # achieved (seed 5): 0.0154 deg, 0.0082 dB; bounds about 3x
    assert ph < 0.05 and amp < 0.025, (ph, amp)
    # the report and the LoS log are there
    for f in ("calibration.json", "los.csv", "report.txt", "track.png",
              "offset_vs_time_and_aoa.png", "doa_map.png", "los_vs_time.png"):
        assert (tmp_path / "out" / f).is_file(), f
    rows = (tmp_path / "out" / "los.csv").read_text().splitlines()
    assert rows[0] == "gps_time,seq,channel,re,im,delay_s,snr_db"
    assert len(rows) - 1 == 2 * s["frames_logged"]


@pytest.mark.timeout(600)
def test_heading_error_needs_the_joint_estimate_at_6_ghz(tmp_path):
    # the array file's heading is 5 deg off (a compass-grade heading)
    sim = simulate(tmp_path / "sim", TWO_EL, OFFSETS_2, 6e9, 2e6, 12.0,
                   snake_walk(heading_deg=30.0, near=8.0, far=20.0), snr_db=20,
                   gnss_sigma_m=0.005, seed=7, file_heading=35.0)
    plain = run(sim, tmp_path / "plain")
    ph_plain = errors(plain["doc"], sim["truth"])["B"][0]
    assert ph_plain > 30.0   # without the joint estimate the error is large (achieved 88 deg)
    joint = run(sim, tmp_path / "joint", joint=True)
    ph, amp = errors(joint["doc"], sim["truth"])["B"]
    q = joint["doc"]["quality"]
    print(f"heading: plain {ph_plain:.3f} joint {ph:.4f} deg {amp:.5f} dB hc "
          f"{q['heading_correction_deg']:.4f} std {q['heading_std_deg']:.4f}")
    # achieved (seed 7): 0.33 deg, heading correction -4.984 deg +- 0.0058; bounds about 3x
    assert ph < 1.0, ph
    assert q["heading_correction_deg"] == pytest.approx(-5.0, abs=0.05)
    assert q["heading_std_deg"] < 0.02


@pytest.mark.timeout(600)
def test_recording_gaps_still_give_the_right_answer(tmp_path):
    sim = simulate(tmp_path / "sim", TWO_EL, OFFSETS_2, 1.3e9, 1e6, 8.0,
                   snake_walk(heading_deg=30.0), snr_db=20, seed=9,
                   gaps=[(2.0001, 0.0307), (5.5, 0.2503)])
    meta = json.loads(open(sim["meta"]).read())
    assert len(meta["captures"]) == 3
    s = run(sim, tmp_path / "out")
    ph, amp = errors(s["doc"], sim["truth"])["B"]
    print(f"gaps: {ph:.4f} deg {amp:.5f} dB")
    assert ph < 0.016 and amp < 0.005  # achieved (seed 9): 0.0052 deg, 0.0014 dB
    q = s["doc"]["quality"]
    assert q["captures"] == 3 and q["frames_dropped_at_gaps"] >= 1


@pytest.mark.timeout(600)
def test_truncated_recording_is_processed_to_its_end_with_a_warning(tmp_path):
    sim = simulate(tmp_path / "sim", TWO_EL, OFFSETS_2, 1.3e9, 1e6, 5.0,
                   snake_walk(heading_deg=30.0), snr_db=20, seed=11, truncate_bytes=12345)
    p = run_cli("process", "--iq", sim["meta"], "--array", sim["array"], "--tx-gnss", sim["tx"],
                "--rx-gnss", sim["rx"], "--out", tmp_path / "out", "--store",
                tmp_path / "store", "--quiet", timeout=300)
    assert p.returncode == 0, p.stderr
    assert "cut off" in p.stderr and "warning" in p.stderr
    doc = calstore.load(tmp_path / "out" / "calibration.json")
    assert doc["quality"]["truncated_bytes"] > 0
    ph, amp = errors(doc, sim["truth"])["B"]
    print(f"truncated: {ph:.4f} deg {amp:.5f} dB")
    assert ph < 0.036 and amp < 0.005  # achieved (seed 11): 0.0119 deg, 0.0014 dB


@pytest.mark.timeout(600)
def test_a_crash_in_the_middle_leaves_the_previous_calibration_intact(tmp_path):
    sim = simulate(tmp_path / "sim", TWO_EL, OFFSETS_2, 1.3e9, 1e6, 4.0,
                   snake_walk(heading_deg=30.0), snr_db=20, seed=13)
    args = ["process", "--iq", sim["meta"], "--array", sim["array"], "--tx-gnss", sim["tx"],
            "--rx-gnss", sim["rx"], "--out", tmp_path / "out", "--store", tmp_path / "store",
            "--quiet"]
    assert run_cli(*args, timeout=300).returncode == 0
    out = tmp_path / "out"
    before = {n: (out / n).read_bytes() for n in os.listdir(out) if (out / n).is_file()}
    stored = sorted(os.listdir(tmp_path / "store"))
    # the process is killed (SIGKILL) after 500 frames (fault injection: tests/faults)
    faults = os.path.join(os.path.dirname(__file__), "faults")
    p = run_cli(*args, timeout=300, env={
        "ARRAYCAL_TEST_KILL_AFTER_FRAMES": "500",
        "PYTHONPATH": os.pathsep.join(x for x in (faults, os.environ.get("PYTHONPATH")) if x)})
    assert p.returncode == -9, (p.returncode, p.stderr)
    # every previous output as it was (the run wrote into its staging directory)
    assert {n: (out / n).read_bytes() for n in os.listdir(out) if (out / n).is_file()} == before
    assert sorted(os.listdir(tmp_path / "store")) == stored
    # the LoS log of the crashed run holds what it had, in the staging directory it left
    staged = [n for n in os.listdir(out) if n.startswith(".arraycal-staging-")]
    assert len(staged) == 1
    assert len((out / staged[0] / "los.csv").read_text().splitlines()) >= 1 + 2 * 500


# ---------------------------------------------------------------- store and apply
@pytest.fixture(scope="module")
def stored_cal(tmp_path_factory):
    d = tmp_path_factory.mktemp("cal")
    sim = simulate(d / "sim", TWO_EL, OFFSETS_2, 1.3e9, 1e6, 4.0, snake_walk(heading_deg=30.0),
                   snr_db=25, seed=17, gain_db=40.0, serials=("31ABCDE", "31FGHIJ"))
    s = process(sim["meta"], sim["array"], sim["tx"], str(d / "out"), rx_gnss=sim["rx"],
                progress=False, log=lambda m: None, store=str(d / "store"))
    return d, s, sim


def test_store_keeps_history_and_never_overwrites(stored_cal, tmp_path):
    d, s, _ = stored_cal
    doc = s["doc"]
    store = calstore.Store(tmp_path / "st")
    p1, p2 = store.add(doc), store.add(doc)
    assert p1 != p2 and len(store.entries()) == 2
    assert json.load(open(p1)) == doc
    assert doc["schema"] == "arraycal.calibration/2"
    assert doc["device_serials"] == ["31ABCDE", "31FGHIJ"] and doc["gain_db"] == 40.0
    # newest matching entry; mismatches are explained
    p, got = store.newest_match(1.3e9, 1e6, 40.0, ["31FGHIJ", "31ABCDE"])
    assert p == p2
    with pytest.raises(UserError, match="frequency"):
        store.newest_match(2.4e9, 1e6, 40.0)
    with pytest.raises(UserError, match="gain"):
        store.newest_match(1.3e9, 1e6, 20.0)
    with pytest.raises(UserError, match="serials"):
        store.newest_match(1.3e9, 1e6, 40.0, ["OTHER"])


def test_cal_list_show_export(stored_cal, tmp_path):
    d, s, sim = stored_cal
    st = d / "store"
    p = run_cli("cal", "list", "--store", st)
    assert p.returncode == 0 and "outdoor-2el" in p.stdout and "1300.000" in p.stdout
    p = run_cli("cal", "show", "1", "--store", st)
    assert p.returncode == 0 and " B " in p.stdout
    out = tmp_path / "w.csv"
    assert run_cli("cal", "export", "1", "--store", st, "--format", "weights",
                   "--out", out).returncode == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "channel,re,im"
    w1 = complex(float(rows[2].split(",")[1]), float(rows[2].split(",")[2]))
    print(f"weights: {np.degrees(np.angle(w1 * sim['truth']['B'])):.4f} deg "
          f"{20 * np.log10(abs(w1 * sim['truth']['B'])):.5f} dB")
    # the weight undoes the offset: achieved (seed 17) 0.019 deg
    assert abs(np.degrees(np.angle(w1 * sim["truth"]["B"]))) < 0.06
    assert run_cli("cal", "export", "1", "--store", st, "--format", "csv",
                   "--out", tmp_path / "c.csv").returncode == 0
    assert_one_line_error(run_cli("cal", "show", "99", "--store", st), "no calibration '99'")


def test_apply_block_corrects_the_channels(stored_cal):
    d, s, sim = stored_cal
    path = str(d / "out" / "calibration.json")
    n = 1000
    rng = np.random.default_rng(1)
    common = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    # what the receiver sees: the common signal times each element's offset
    chans = [common * sim["truth"]["A"], common * sim["truth"]["B"]]
    tb = gr.top_block()
    ap = arraycal.calibration_apply(2, path, 1.3e9, 1e6, 40.0, "31ABCDE,31FGHIJ")
    sinks = [blocks.vector_sink_c() for _ in range(2)]
    for c in range(2):
        tb.connect(blocks.vector_source_c(chans[c].astype(np.complex64).tolist()), (ap, c),
                   sinks[c])
    tb.run()
    a, b = np.array(sinks[0].data()), np.array(sinks[1].data())
    # after the correction the elements agree to the calibration's accuracy
    print(f"apply: {np.max(np.abs(np.degrees(np.angle(b / a)))):.4f} deg "
          f"{np.max(np.abs(20 * np.log10(np.abs(b / a)))):.5f} dB")
    # achieved (seed 17): 0.019 deg, 0.0001 dB
    assert np.max(np.abs(np.degrees(np.angle(b / a)))) < 0.06
    assert np.max(np.abs(20 * np.log10(np.abs(b / a)))) < 0.0005


def test_apply_block_refuses_a_mismatch_and_reloads_at_run_time(stored_cal, tmp_path):
    d, s, sim = stored_cal
    path = str(d / "out" / "calibration.json")
    with pytest.raises(UserError, match="does not match this radio: frequency"):
        arraycal.calibration_apply(2, path, 2.4e9, 1e6)
    with pytest.raises(UserError, match="sample rate"):
        arraycal.calibration_apply(2, path, 1.3e9, 2e6)
    # from the store: the newest matching entry
    ap = arraycal.calibration_apply(2, "", 1.3e9, 1e6, 40.0, store=str(d / "store"))
    assert ap.path.startswith(str(d / "store"))
    # at run time: a new document by message; a mismatching one is refused, the old stays
    doc = dict(s["doc"])
    doc["elements"] = [dict(e) for e in doc["elements"]]
    doc["elements"][1]["offset"] = {"re": 0.0, "im": 2.0}
    good = tmp_path / "new.json"
    good.write_text(json.dumps(doc))
    bad = dict(doc, freq_hz=5e9)
    badp = tmp_path / "bad.json"
    badp.write_text(json.dumps(bad))
    ap.loader.handle(pmt.intern(str(badp)))
    assert ap.weights[1] != 1 / 2j
    ap.loader.handle(pmt.intern(str(good)))
    assert ap.weights[1] == pytest.approx(1 / 2j)


# ---------------------------------------------------------------- bad input
def test_process_bad_input_is_one_clear_line(stored_cal, tmp_path):
    d, s, sim = stored_cal
    base = ["process", "--iq", sim["meta"], "--array", sim["array"], "--tx-gnss", sim["tx"],
            "--rx-gnss", sim["rx"], "--out", tmp_path / "o", "--store", tmp_path / "s", "--quiet"]

    def with_(flag, value):
        a = list(base)
        a[a.index(flag) + 1] = value
        return a
    # wrong array file: a channel the recording does not have
    bad_arr = tmp_path / "a.yaml"
    bad_arr.write_text(open(sim["array"]).read().replace("channel: 1", "channel: 3"))
    assert_one_line_error(run_cli(*with_("--array", bad_arr)), "uses channel 3", "2 channel")
    # missing recording / data file / wrong datatype
    assert_one_line_error(run_cli(*with_("--iq", tmp_path / "none.sigmf-meta")), "not found")
    meta = json.loads(open(sim["meta"]).read())
    meta["global"]["core:datatype"] = "cu16_le"
    wrong = tmp_path / "wrong.sigmf-meta"
    wrong.write_text(json.dumps(meta))
    os.symlink(sim["data"], tmp_path / "wrong.sigmf-data")
    assert_one_line_error(run_cli(*with_("--iq", wrong)), "datatype cu16_le")
    # GNSS log from another day
    other = tmp_path / "other.ubx"
    from gnuradio.arraycal.gnss import ubxgen
    other.write_bytes(ubxgen.epoch(1.5e9, 63.4, 10.4, 50))
    assert_one_line_error(run_cli(*with_("--tx-gnss", other)), "does not overlap")
    # a log without a fix
    nofix = tmp_path / "nofix.ubx"
    nofix.write_bytes(ubxgen.epoch(1.5e9, 0, 0, 0, fix_type=0, carr_soln=0))
    assert_one_line_error(run_cli(*with_("--tx-gnss", nofix)), "no", "fix")
    # no array position
    a = [x for x in base if x not in ("--rx-gnss", sim["rx"])]
    assert_one_line_error(run_cli(*a), "--rx-position")
