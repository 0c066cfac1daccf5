#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Nothing lost, nothing half-done: signals, staged outputs, file modes, the store, Apply.

Whole commands run as users run them (subprocesses with timeouts); a signal
is sent only after the command's own readiness line, never after a sleep.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from gnuradio import arraycal
from gnuradio.arraycal import fileio
from gnuradio.arraycal.calibration import store as calstore
from gnuradio.arraycal.errors import UserError
from gnuradio.arraycal.radio import waveform as wf

from conftest import ARRAYCAL, PY, assert_one_line_error, run_cli
from simcampaign import TWO_EL, simulate, snake_walk

PACKET = 1278                       # samples of the default packet
OFFSET_B = 0.85 * np.exp(-1j * np.radians(64))


# ---------------------------------------------------------------- helpers
def snapshot(d):
    """Every file under d (relative path -> bytes): what 'left as it was' means."""
    out = {}
    for root, dirs, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read()
    return out


def popen(*args, env=None):
    e = dict(os.environ)
    e.pop("DISPLAY", None)
    e.update(env or {})
    return subprocess.Popen([ARRAYCAL, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e)


def wait_for_line(stream, fragment):
    """Read lines until one holds fragment (bounded by the test's timeout); return them."""
    seen = []
    for line in stream:
        seen.append(line)
        if fragment in line:
            return seen
    raise AssertionError(f"'{fragment}' never came; got {''.join(seen)}")


def document(status="good", simulated=False, created="2026-06-01T10:00:00.000000Z",
             freq=1.3e9, rate=1e6, gain=40.0, schema=calstore.SCHEMA, offset_b=OFFSET_B,
             array="pair"):
    """A calibration document written by hand (not by the code under test)."""
    d = {"schema": schema, "created": created, "array": array, "device_serials": ["S1"],
         "freq_hz": freq, "sample_rate": rate, "gain_db": gain, "reference": "A",
         "elements": [
             {"id": "A", "channel": 0, "offset": {"re": 1.0, "im": 0.0}, "amp_db": 0.0,
              "phase_deg": 0.0, "phase_std_deg": 0.0, "amp_std_db": 0.0, "n": 100},
             {"id": "B", "channel": 1, "offset": {"re": offset_b.real, "im": offset_b.imag},
              "amp_db": float(20 * np.log10(abs(offset_b))),
              "phase_deg": float(np.degrees(np.angle(offset_b))), "phase_std_deg": 0.5,
              "amp_std_db": 0.05, "n": 100}],
         "method": "fft", "quality": {"frames_seen": 100, "frames_used": 100}}
    if schema == calstore.SCHEMA:
        d["verdict"] = {"status": status, "reasons": [] if status == "good" else ["test"],
                        "checks": {}}
        d["simulated"] = simulated
    return d


def put(store_dir, name, obj):
    os.makedirs(store_dir, exist_ok=True)
    p = os.path.join(store_dir, name)
    with open(p, "wb") as f:
        f.write(obj if isinstance(obj, bytes) else json.dumps(obj).encode())
    return p


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """A short two-element campaign, processed once into OUT (the 'previous run')."""
    d = tmp_path_factory.mktemp("trust")
    sim = simulate(d / "sim", TWO_EL, {"A": 1.0, "B": OFFSET_B}, 1.3e9, 1e6, 4.0,
                   snake_walk(heading_deg=30.0), snr_db=25, seed=23)
    out, store = d / "out", d / "store"
    p = run_cli("process", "--iq", sim["meta"], "--array", sim["array"], "--tx-gnss",
                sim["tx"], "--rx-gnss", sim["rx"], "--out", out, "--store", store, "--quiet",
                timeout=300)
    assert p.returncode in (0, 3), p.stderr
    return sim, out, store


# ---------------------------------------------------------------- file modes
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_written_files_honour_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        fileio.atomic_write_text(tmp_path / "a.txt", "x")
        fileio.create_exclusive_json(tmp_path / "b.json", {"x": 1})
        with fileio.OutputStaging(tmp_path / "out") as st:
            fileio.atomic_write_text(st.file("c.txt"), "y")
            st.commit()
    finally:
        os.umask(old)
    for p in (tmp_path / "a.txt", tmp_path / "b.json", tmp_path / "out" / "c.txt"):
        assert os.stat(p).st_mode & 0o777 == 0o666 & ~mask, p


def test_process_outputs_are_readable_by_others(campaign):
    _, out, store = campaign
    # the test runner's umask (022 on this machine's default) gives 0644
    mask = os.umask(0o022)
    os.umask(mask)
    for p in [out / "calibration.json", out / "report.txt", out / "los.csv"] + \
            [store / n for n in os.listdir(store)]:
        assert os.stat(p).st_mode & 0o777 == 0o666 & ~mask, p


# ---------------------------------------------------------------- staging
def test_staging_leaves_the_directory_as_it_was_when_the_run_fails(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "calibration.json").write_text("previous\n")
    before = snapshot(out)
    with pytest.raises(RuntimeError):
        with fileio.OutputStaging(out) as st:
            fileio.atomic_write_text(st.file("calibration.json"), "half done\n")
            raise RuntimeError("the run fails")
    assert snapshot(out) == before
    assert os.listdir(out) == ["calibration.json"]     # no staging directory left


def test_staging_swaps_in_keeps_previous_and_never_replaces_an_input(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "array.yaml").write_text("# the user's own file\n")
    (out / "los.csv").write_text("old log\n")
    with fileio.OutputStaging(out, inputs=[out / "array.yaml"]) as st:
        for name in ("array.yaml", "los.csv", "calibration.json"):
            fileio.atomic_write_text(st.file(name), f"new {name}\n")
        kept = st.commit(previous=("los.csv",))
    assert kept == ["array.yaml"]
    assert (out / "array.yaml").read_text() == "# the user's own file\n"
    assert (out / "los.csv").read_text() == "new los.csv\n"
    assert (out / "los.csv.previous").read_text() == "old log\n"
    assert (out / "calibration.json").read_text() == "new calibration.json\n"
    assert sorted(os.listdir(out)) == ["array.yaml", "calibration.json", "los.csv",
                                       "los.csv.previous"]


def test_staging_of_a_killed_run_is_removed_by_the_next(tmp_path):
    out = tmp_path / "out"
    # a process that is gone: a child that has exited and been reaped
    child = subprocess.run([PY, "-c", "import os; print(os.getpid())"], capture_output=True,
                           text=True, check=True)
    dead = out / f"{fileio.OutputStaging.PREFIX}{child.stdout.strip()}-abcd"
    dead.mkdir(parents=True)
    (dead / "los.csv").write_text("partial\n")
    with fileio.OutputStaging(out) as st:
        assert not dead.exists()
        st.commit()


@pytest.mark.timeout(600)
def test_process_into_the_directory_of_its_inputs_never_rewrites_them(campaign, tmp_path):
    sim = campaign[0]
    d = tmp_path / "field"
    d.mkdir()
    # the user's array file, with comments and layout a rewrite would lose
    text = "# measured 2026-06-01, tape\n" + open(sim["array"]).read() + "# end\n"
    (d / "array.yaml").write_text(text)
    for key, name in (("tx", "tx.ubx"), ("rx", "rx.ubx")):
        shutil.copy(sim[key], d / name)
    meta = os.path.basename(sim["meta"])
    shutil.copy(sim["meta"], d / meta)
    shutil.copy(sim["meta"].replace(".sigmf-meta", ".sigmf-data"),
                d / meta.replace(".sigmf-meta", ".sigmf-data"))
    inputs = snapshot(d)
    p = run_cli("process", "--iq", d / meta, "--array", d / "array.yaml", "--tx-gnss",
                d / "tx.ubx", "--rx-gnss", d / "rx.ubx", "--out", d, "--store",
                tmp_path / "store", "--quiet", timeout=300)
    assert p.returncode in (0, 3), p.stderr
    after = snapshot(d)
    for name, data in inputs.items():
        assert after[name] == data, f"{name} was rewritten"
    assert "calibration.json" in after and "report.txt" in after
    assert not [n for n in os.listdir(d) if n.startswith(".arraycal-staging")]


# ---------------------------------------------------------------- signals
@pytest.mark.timeout(600)
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_process_stores_nothing_and_keeps_the_previous_outputs(
        campaign, sig, code):
    sim, out, store = campaign
    before, stored = snapshot(out), sorted(os.listdir(store))
    p = popen("process", "--iq", sim["meta"], "--array", sim["array"], "--tx-gnss", sim["tx"],
              "--rx-gnss", sim["rx"], "--out", out, "--store", store, "--quiet")
    wait_for_line(p.stderr, "receive chain running")
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    assert "Traceback" not in err and ("interrupted" if code == 130 else "terminated") in err
    assert snapshot(out) == before
    assert sorted(os.listdir(store)) == stored


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_rx_from_a_recording_makes_no_calibration(campaign, tmp_path, sig, code):
    sim = campaign[0]
    out, store = tmp_path / "rx", tmp_path / "store"
    out.mkdir()
    (out / "calibration.json").write_text("the previous calibration\n")
    p = popen("rx", "--source", f"file:{sim['meta']}", "--rate", "1e6", "--channels", "2",
              "--out", out, "--array", sim["array"], "--tx-gnss", sim["tx"], "--rx-gnss",
              sim["rx"], "--store", store)
    wait_for_line(p.stdout, "LoS log")
    p.send_signal(sig)
    text, err = p.communicate(timeout=120)
    assert p.returncode == code, (text, err)
    assert "Traceback" not in err
    assert (out / "calibration.json").read_text() == "the previous calibration\n"
    assert not store.exists() or os.listdir(store) == []
    assert (out / "los.csv").is_file()          # what was received is kept


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_demo_stores_nothing(tmp_path, sig, code):
    out, store = tmp_path / "demo", tmp_path / "store"
    out.mkdir()
    (out / "calibration.json").write_text("the previous demo\n")
    before = snapshot(out)
    p = popen("demo", "--duration", "20", "--rate", "1e6", "--out", out, "--store", store,
              "--quiet")
    wait_for_line(p.stdout, "arraycal demo:")
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    assert "Traceback" not in err
    assert snapshot(out) == before
    assert not store.exists() or os.listdir(store) == []


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_tx_into_a_file_stops_on_a_packet_boundary(tmp_path, sig):
    out = tmp_path / "tx.c64"
    p = popen("tx", "--sink", f"file:{out}", "--realtime", "--rate", "2e6")
    wait_for_line(p.stdout, "arraycal tx:")
    p.send_signal(sig)
    text, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    x = np.fromfile(out, np.complex64)
    assert x.size > 0 and x.size % PACKET == 0, x.size
    # whole packets, in order: the built-in packet at the default amplitude
    ref = (wf.packet() * np.float32(0.7)).astype(np.complex64)
    assert np.array_equal(x.reshape(-1, PACKET), np.tile(ref, (x.size // PACKET, 1)))
    assert f"{x.size // PACKET} packets" in text


def test_tx_fast_file_sink_too(tmp_path):
    # no throttle: the file grows as fast as the disk takes it, the stop still lands
    # on a packet boundary
    out = tmp_path / "tx.c64"
    p = popen("tx", "--sink", f"file:{out}")
    wait_for_line(p.stdout, "arraycal tx:")
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    assert p.returncode == 0
    assert os.path.getsize(out) % (PACKET * 8) == 0


# ---------------------------------------------------------------- store
WRITER = r"""
import sys
from gnuradio.arraycal.calibration import store as calstore
doc = __import__("json").loads(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
print(calstore.Store(sys.argv[1]).add(doc), flush=True)
"""


@pytest.mark.timeout(120)
def test_six_concurrent_writers_get_six_entries(tmp_path):
    store = tmp_path / "store"
    doc = json.dumps(document())     # all six: the same second, the same name wanted
    procs = [subprocess.Popen([PY, "-c", WRITER, str(store), doc], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in procs:                  # release all six at once
        p.stdin.write("go\n")
        p.stdin.flush()
    paths = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        paths.append(out.strip())
    assert len(set(paths)) == 6
    assert sorted(os.listdir(store)) == sorted(os.path.basename(p) for p in paths)
    scan = calstore.Store(store).scan()
    assert len(scan) == 6 and all(e.valid for e in scan)


BAD_ENTRIES = {
    "freq_is_text": dict(document(), freq_hz="1.3e9"),
    "channel_is_text": dict(document(), elements=[dict(document()["elements"][0], channel="0"),
                                                  document()["elements"][1]]),
    "channel_minus_one": dict(document(), elements=[dict(document()["elements"][0], channel=-1),
                                                    document()["elements"][1]]),
    "created_is_number": dict(document(), created=5),
    "elements_is_dict": dict(document(), elements={"A": 1}),
    "verdict_unknown": dict(document(), verdict={"status": "great", "reasons": []}),
    "reference_missing": dict(document(), reference="Z"),
    "offset_zero": dict(document(), elements=[document()["elements"][0],
                                              dict(document()["elements"][1],
                                                   offset={"re": 0, "im": 0})]),
    "not_json": b"{this is not json",
    "not_utf8": b"\xff\xfe\x00garbage",
    "empty": b"",
    "deep": b"[" * 100000 + b"]" * 100000,
    "array_not_object": b"[1, 2, 3]",
}


@pytest.fixture
def messy_store(tmp_path):
    store = tmp_path / "store"
    good = put(store, "20260601T090000Z-pair-1300.000MHz.json",
               document(created="2026-06-01T09:00:00.000000Z"))
    for i, (name, obj) in enumerate(BAD_ENTRIES.items()):
        put(store, f"20260601T08{i:02d}00Z-{name}.json", obj)
    return store, good


@pytest.mark.timeout(120)
def test_cal_list_names_every_invalid_entry_and_its_reason(messy_store):
    store, good = messy_store
    p = run_cli("cal", "list", "--store", store)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    lines = p.stdout.splitlines()
    for name in BAD_ENTRIES:
        row = [ln for ln in lines if f"-{name}.json" in ln]
        assert len(row) == 1 and "INVALID" in row[0], (name, p.stdout)
    assert os.path.basename(good) in p.stdout
    assert f"{len(BAD_ENTRIES)} of {len(BAD_ENTRIES) + 1} entries are invalid" in p.stdout
    reasons = {name: next(ln for ln in lines if f"-{name}.json" in ln) for name in BAD_ENTRIES}
    assert "freq_hz" in reasons["freq_is_text"]
    assert "channel -1" in reasons["channel_minus_one"]
    assert "not valid JSON" in reasons["not_json"]
    assert "UTF-8" in reasons["not_utf8"]


@pytest.mark.timeout(120)
def test_cal_show_of_an_invalid_entry_is_one_line(messy_store):
    store, _ = messy_store
    assert_one_line_error(run_cli("cal", "show", "1", "--store", store), "invalid")


def test_store_refuses_what_it_could_not_read_back(tmp_path):
    s = calstore.Store(tmp_path / "store")
    for name in ("channel_minus_one", "freq_is_text", "reference_missing"):
        with pytest.raises(UserError):
            s.add(BAD_ENTRIES[name])
    assert not (tmp_path / "store").exists() or os.listdir(tmp_path / "store") == []


@pytest.mark.timeout(120)
def test_unwritable_store_is_one_line(tmp_path, campaign):
    if os.geteuid() == 0:
        store = "/proc/arraycal-store"      # root may write anywhere but not here
    else:
        store = tmp_path / "ro"
        store.mkdir(mode=0o555)
    sim = campaign[0]
    p = run_cli("process", "--los", campaign[1] / "los.csv", "--freq", "1.3e9", "--rate", "1e6",
                "--array", sim["array"], "--tx-gnss", sim["tx"], "--rx-gnss", sim["rx"],
                "--out", tmp_path / "o", "--store", store)
    assert_one_line_error(p)


@pytest.mark.timeout(120)
def test_cal_export_includes_the_reference(tmp_path):
    store = tmp_path / "store"
    put(store, "20260601T100000Z-pair.json", document())
    assert run_cli("cal", "export", "1", "--store", store, "--format", "csv", "--out",
                   tmp_path / "c.csv").returncode == 0
    rows = (tmp_path / "c.csv").read_text().splitlines()
    head = rows[0].split(",")
    ref = [dict(zip(head, r.split(","))) for r in rows[1:]]
    assert [r["id"] for r in ref] == ["A", "B"]
    assert ref[0]["reference"] == "1" and ref[1]["reference"] == "0"
    assert float(ref[0]["re"]) == 1.0 and float(ref[0]["im"]) == 0.0
    assert run_cli("cal", "export", "1", "--store", store, "--format", "weights", "--out",
                   tmp_path / "w.csv").returncode == 0
    w = [r.split(",") for r in (tmp_path / "w.csv").read_text().splitlines()[1:]]
    assert w[0] == ["0", "1", "0"]
    assert complex(float(w[1][1]), float(w[1][2])) == pytest.approx(1 / OFFSET_B, rel=1e-8)


def test_a_v1_document_reads_as_unverified(tmp_path):
    p = put(tmp_path, "old.json", document(schema=calstore.SCHEMA_V1))
    doc = calstore.load(p)
    assert calstore.status(doc) == "unverified"
    assert calstore.refusals(doc) and not calstore.refusals(doc, allow_unverified=True)


# ---------------------------------------------------------------- Apply
def apply_block(store, **kw):
    return arraycal.calibration_apply(2, "", 1.3e9, 1e6, 40.0, "", str(store), **kw)


def test_apply_takes_only_good_measured_calibrations_by_default(tmp_path):
    store = tmp_path / "store"
    good = put(store, "20260601T100000Z-good.json",
               document(created="2026-06-01T10:00:00.000000Z"))
    newer = {"suspect": document("suspect", created="2026-06-01T11:00:00.000000Z"),
             "simulated": document(simulated=True, created="2026-06-01T12:00:00.000000Z"),
             "v1": document(schema=calstore.SCHEMA_V1, created="2026-06-01T13:00:00.000000Z"),
             "failed": document("failed", created="2026-06-01T14:00:00.000000Z"),
             "other_freq": document(freq=2.4e9, created="2026-06-01T15:00:00.000000Z")}
    paths = {k: put(store, f"2026060{1}T1{i + 1}0000Z-{k}.json", d)
             for i, (k, d) in enumerate(newer.items())}
    blk = apply_block(store)
    assert blk.path == good
    assert blk.weights[1] == pytest.approx(1 / OFFSET_B)
    assert apply_block(store, allow_suspect=True).path == paths["suspect"]
    assert apply_block(store, allow_suspect=True, allow_simulated=True).path == \
        paths["simulated"]
    assert apply_block(store, allow_suspect=True, allow_simulated=True,
                       allow_unverified=True).path == paths["v1"]
    # an explicit file is held to the same rules; a failed one is never applied
    with pytest.raises(UserError, match="suspect"):
        arraycal.calibration_apply(2, paths["suspect"], 1.3e9, 1e6, 40.0, "", str(store))
    with pytest.raises(UserError, match="simulated"):
        arraycal.calibration_apply(2, paths["simulated"], 1.3e9, 1e6, 40.0, "", str(store))
    with pytest.raises(UserError, match="failed"):
        arraycal.calibration_apply(2, paths["failed"], 1.3e9, 1e6, 40.0, "", str(store),
                                   True, True, True)


def test_apply_refuses_when_the_newest_entry_is_corrupt(tmp_path):
    store = tmp_path / "store"
    put(store, "20260601T100000Z-good.json", document(created="2026-06-01T10:00:00.000000Z"))
    bad = put(store, "20260601T110000Z-pair-1300.000MHz.json",
              dict(document(created="2026-06-01T11:00:00.000000Z"), sample_rate="fast"))
    with pytest.raises(UserError) as e:
        apply_block(store)
    assert bad in str(e.value) and "invalid" in str(e.value)
    # and a file that is not JSON at all, named newest by its time stamp
    os.remove(bad)
    bad = put(store, "20260601T120000Z-pair-1300.000MHz.json", b'{"schema": "arraycal.cal')
    with pytest.raises(UserError, match="20260601T120000Z"):
        apply_block(store)


def test_apply_refuses_channel_minus_one_in_a_message(tmp_path):
    store = tmp_path / "store"
    put(store, "20260601T100000Z-good.json", document())
    blk = apply_block(store)
    with pytest.raises(UserError, match="channel -1"):
        blk.load_document(BAD_ENTRIES["channel_minus_one"], "message")
    assert blk.weights[1] == pytest.approx(1 / OFFSET_B)


APPLY_LOG = r"""
import sys
from gnuradio import arraycal
arraycal.calibration_apply(2, "", 1.3e9, 1e6, 40.0, "", sys.argv[1])
"""


@pytest.mark.timeout(120)
def test_apply_logs_the_file_it_loaded(tmp_path):
    store = tmp_path / "store"
    p = put(store, "20260601T100000Z-good.json", document())
    r = subprocess.run([PY, "-c", APPLY_LOG, str(store)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"applying {p}" in r.stderr + r.stdout


def test_the_demo_document_is_simulated_and_not_applied(tmp_path):
    # a demo document of schema /1 said it was simulated only by its serials
    d = dict(document(schema=calstore.SCHEMA_V1), device_serials=["SIMULATED"])
    assert calstore.is_simulated(d)
    assert any("simulated" in r for r in calstore.refusals(d, allow_unverified=True))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
