#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""No traceback for any input: mutated files and numbers give a result or one line, exit 2.

Property-based (hypothesis): SigMF meta, array YAML, UBX bytes, RTKLIB .pos
text, stored calibration JSON and every numeric option are mutated; each
run of the command (in-process through gnuradio.arraycal.cli.main, a few as
subprocesses) must either give a result (exit 0, 3 suspect, 4 failed) or
exactly one error line and exit 2.
"""

import contextlib
import io
import json
import math
import os
import shutil

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from gnuradio.arraycal import timeutil
from gnuradio.arraycal.calibration import store as calstore
from gnuradio.arraycal.cli import build_parser, main
from gnuradio.arraycal.errors import UserError
from gnuradio.arraycal.gnss import ubx as gnss

from conftest import assert_one_line_error, run_cli
from simcampaign import TWO_EL, simulate, snake_walk
from test_trust import document

RESULT_CODES = (0, 3, 4)
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


def cli(*argv):
    """arraycal in-process: (exit code, stdout, stderr). An exception is a failed test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def assert_result_or_one_line(rc, out, err):
    assert "Traceback" not in err
    assert rc in RESULT_CODES + (2,), (rc, out, err)
    if rc == 2:
        errors = [ln for ln in err.splitlines() if "error:" in ln]
        assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err


# ---------------------------------------------------------------- the campaign
@pytest.fixture(scope="module")
def camp(tmp_path_factory):
    d = tmp_path_factory.mktemp("robust")
    sim = simulate(d / "sim", TWO_EL, {"A": 1.0, "B": 0.9 * np.exp(1j * 0.7)}, 1.3e9, 1e6, 2.0,
                   snake_walk(heading_deg=30.0), snr_db=25, seed=31)
    rc, out, err = cli("process", "--iq", sim["meta"], "--array", sim["array"], "--tx-gnss",
                       sim["tx"], "--rx-gnss", sim["rx"], "--out", d / "out", "--store",
                       d / "store", "--quiet")
    assert rc in (0, 3), err
    sim["los"] = str(d / "out" / "los.csv")
    sim["pos"] = str(d / "tx.pos")
    write_pos(sim["tx"], sim["pos"])
    sim["dir"] = d
    # unmutated, each input gives a calibration: a mutation's exit 2 is the mutation's doing
    for tx in (sim["tx"], sim["pos"]):
        rc, out, err = from_los(sim, str(d / "baseline"), tx=tx)
        assert rc in (0, 3), err
    return sim


def write_pos(ubx_path, pos_path):
    """The transmitter's fixes as an RTKLIB .pos file (GPST week/TOW, lat/lon/height)."""
    fixes, _ = gnss.read_ubx_file(ubx_path, "tx")
    lines = ["% program   : test", "%  GPST          latitude(deg) longitude(deg)  height(m)"
             "   Q  ns   sdn(m)   sde(m)   sdu(m)  sdne(m)  sdeu(m)  sdun(m) age(s)  ratio"]
    for f in fixes:
        week, tow = timeutil.week_tow(f.gps_time)
        lines.append(f"{week} {tow:.3f} {f.lat:.9f} {f.lon:.9f} "
                     f"{f.height:.4f} 1 12 0.0050 0.0050 0.0100 0.0000 0.0000 0.0000 0.00 9.9")
    with open(pos_path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def from_los(camp, tmp, array=None, tx=None, extra=()):
    return cli("process", "--los", camp["los"], "--freq", "1.3e9", "--rate", "1e6",
               "--array", array or camp["array"], "--tx-gnss", tx or camp["tx"],
               "--rx-gnss", camp["rx"], "--out", os.path.join(tmp, "o"), "--store",
               os.path.join(tmp, "s"), *extra)


def fresh(tmp_path, n=[0]):
    n[0] += 1
    d = tmp_path / f"case{n[0]}"
    d.mkdir()
    return str(d)


# ---------------------------------------------------------------- mutations
ODD_VALUES = [float("nan"), float("inf"), -float("inf"), 0, -1, -0.0, 1e308, 10**30, -10**30,
              "x", "", None, True, [], {}, [1, 2], {"a": 1}, "1e400", 1e-320]


def mutate_tree(data, draw):
    """Replace or delete one value somewhere in a JSON/YAML tree."""
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + (i,))
    walk(data, ())
    path = draw(st.sampled_from(paths[1:] or [()]))
    if not path:
        return draw(st.sampled_from(ODD_VALUES))
    parent = data
    for k in path[:-1]:
        parent = parent[k]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(st.sampled_from(ODD_VALUES))
    return data


def mutate_text(text, draw):
    ops = draw(st.lists(st.sampled_from(["delete", "insert", "truncate", "swap"]), min_size=1,
                        max_size=3))
    for op in ops:
        n = len(text)
        i = draw(st.integers(0, max(0, n)))
        if op == "delete":
            j = draw(st.integers(i, min(n, i + 40)))
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(
                ["nan", "-1", "1e999", ":", "\n", "- ", "{", "]", "\t", "é", "0", "-", "  x"])) \
                + text[i:]
        elif op == "truncate":
            text = text[:i]
        else:
            text = text.replace(draw(st.sampled_from(["0", "1", ".", ",", " ", "e"])),
                                draw(st.sampled_from(["9", "-", "", "x", "nan"])), 1)
    return text


def mutate_bytes(data, draw):
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "junk", "dup"]))
        i = draw(st.integers(0, max(0, len(b) - 1)))
        if op == "flip" and b:
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del b[i:i + draw(st.integers(1, 200))]
        elif op == "junk":
            b[i:i] = draw(st.binary(min_size=1, max_size=64))
        elif op == "dup":
            b[i:i] = b[i:i + draw(st.integers(1, 200))]
    return bytes(b)


# ---------------------------------------------------------------- files
@pytest.mark.timeout(900)
@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_mutated_array_file(camp, tmp_path, data):
    d = fresh(tmp_path)
    text = open(camp["array"]).read()
    if data.draw(st.booleans()):
        text = yaml.safe_dump(mutate_tree(yaml.safe_load(text), data.draw))
    else:
        text = mutate_text(text, data.draw)
    p = os.path.join(d, "array.yaml")
    with open(p, "w") as f:
        f.write(text)
    assert_result_or_one_line(*from_los(camp, d, array=p))


@pytest.mark.timeout(900)
@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_mutated_ubx_log(camp, tmp_path, data):
    d = fresh(tmp_path)
    p = os.path.join(d, "tx.ubx")
    with open(p, "wb") as f:
        f.write(mutate_bytes(open(camp["tx"], "rb").read(), data.draw))
    assert_result_or_one_line(*from_los(camp, d, tx=p))


@pytest.mark.timeout(900)
@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_mutated_rtklib_pos(camp, tmp_path, data):
    d = fresh(tmp_path)
    p = os.path.join(d, "tx.pos")
    with open(p, "w") as f:
        f.write(mutate_text(open(camp["pos"]).read(), data.draw))
    assert_result_or_one_line(*from_los(camp, d, tx=p))


@pytest.mark.timeout(1200)
@settings(max_examples=20, **SETTINGS)
@given(data=st.data())
def test_mutated_sigmf_meta(camp, tmp_path, data):
    d = fresh(tmp_path)
    meta = json.load(open(camp["meta"]))
    if data.draw(st.booleans()):
        text = json.dumps(mutate_tree(meta, data.draw))
    else:
        text = mutate_text(json.dumps(meta, indent=1), data.draw)
    base = os.path.join(d, "rec")
    with open(base + ".sigmf-meta", "w") as f:
        f.write(text)
    os.symlink(camp["meta"].replace(".sigmf-meta", ".sigmf-data"), base + ".sigmf-data")
    assert_result_or_one_line(*cli(
        "process", "--iq", base + ".sigmf-meta", "--array", camp["array"], "--tx-gnss",
        camp["tx"], "--rx-gnss", camp["rx"], "--out", os.path.join(d, "o"), "--store",
        os.path.join(d, "s"), "--quiet"))


@pytest.mark.timeout(600)
@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_mutated_stored_json(tmp_path, data):
    d = fresh(tmp_path)
    store = os.path.join(d, "store")
    os.makedirs(store)
    doc = document()
    if data.draw(st.booleans()):
        text = json.dumps(mutate_tree(doc, data.draw))
    else:
        text = mutate_text(json.dumps(doc, indent=1), data.draw)
    with open(os.path.join(store, "20260601T100000Z-pair-1300.000MHz.json"), "w") as f:
        f.write(text)
    rc, out, err = cli("cal", "list", "--store", store)
    assert rc == 0 and "Traceback" not in err, err
    assert "20260601T100000Z" in out            # listed, valid or not: never skipped
    for verb in (("show", "1"), ("export", "1", "--format", "weights", "--out",
                                 os.path.join(d, "w.csv")),
                 ("export", "1", "--format", "csv", "--out", os.path.join(d, "c.csv"))):
        rc, out, err = cli("cal", *verb, "--store", store)
        assert rc in (0, 2)
        assert_result_or_one_line(rc, out, err)
    try:
        calstore.Store(store).newest_match(1.3e9, 1e6, 40.0, allow_suspect=True,
                                           allow_simulated=True, allow_unverified=True)
    except UserError:
        pass


# ---------------------------------------------------------------- numbers
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "0", "-0", "-1", "1e11", "1e400", "-1e400",
                     "abc", "", "1,2", "0x10", "4M", "1e-320", "1.5", "3"]))
TRIPLES = st.one_of(
    st.lists(NUMBERS, min_size=1, max_size=4).map(",".join),
    st.sampled_from(["nan,nan,nan", "inf,0,0", "91,0,0", "0,181,0", "63.4,10.4,1e9",
                     "63.4181,10.4012,52", "1,2", "a,b,c"]))

# (command up to the option, option, the values) for every numeric option
OPTIONS = [(("tx",), o, NUMBERS) for o in ("--freq", "--rate", "--gain", "--amplitude",
                                           "--duration")] + \
    [(("waveform", "--out", "/nonexistent/x"), o, NUMBERS)
     for o in ("--root", "--zc-length", "--repetitions", "--payload", "--seed")] + \
    [(("rx", "--out", "/nonexistent/x"), o, NUMBERS)
     for o in ("--channels", "--rate", "--freq", "--gain", "--time-offset", "--duration",
               "--idle-stop")] + \
    [(("rx", "--out", "/nonexistent/x"), "--rx-position", TRIPLES)] + \
    [(("process", "--iq", "x", "--array", "a", "--tx-gnss", "t", "--out", "o"), o, NUMBERS)
     for o in ("--freq", "--rate", "--apes-len", "--zero-pad", "--min-fix-type",
               "--max-h-acc", "--min-snr")] + \
    [(("process", "--iq", "x", "--array", "a", "--tx-gnss", "t", "--out", "o"), o, TRIPLES)
     for o in ("--rx-position", "--tx-offset")] + \
    [(("estimate", "--los", "zmq:x", "--array", "a", "--tx-gnss", "t", "--out", "o"), o,
      NUMBERS) for o in ("--freq", "--rate", "--frames", "--duration", "--idle-stop",
                         "--start-timeout")] + \
    [(("estimate", "--los", "zmq:x", "--array", "a", "--tx-gnss", "t", "--out", "o"),
      "--rx-position", TRIPLES)] + \
    [(("demo",), o, NUMBERS) for o in ("--freq", "--rate", "--duration", "--elements", "--snr",
                                        "--heading-error", "--seed")] + \
    [(("gnss", "log", "--port", "p", "--out", "o"), o, NUMBERS) for o in ("--baud",
                                                                         "--duration")] + \
    [(("reciprocity", "simulate"), o, NUMBERS) for o in ("--trials", "--bs", "--ue",
                                                         "--timing-ns", "--seed")] + \
    [(("reciprocity", "simulate"), "--powers", TRIPLES)] + \
    [(("reciprocity", "calibrate", "--listen", "l", "--out", "o"), o, NUMBERS)
     for o in ("--bs", "--ue", "--spacing", "--count", "--idle-stop")] + \
    [(("reciprocity", "node", "--role", "bs", "--connect", "c", "--subscribe", "s", "--out",
       "o", "--index", "0"), o, NUMBERS)
     for o in ("--index", "--bs", "--ue", "--seed", "--power", "--slots", "--pilot-period",
               "--timeout")]


def _parse(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return build_parser().parse_args(argv), err.getvalue()
        except SystemExit as e:
            assert e.code == 2
            return None, err.getvalue()


def _finite(v):
    return all(math.isfinite(x) for x in (v if isinstance(v, list) else [v]))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("cmd,option,values", OPTIONS,
                         ids=[f"{c[0]}{o}" for c, o, _ in OPTIONS])
@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_numeric_option_is_refused_in_one_line_or_usable(cmd, option, values, data):
    text = data.draw(values)
    args, err = _parse(list(cmd) + [f"{option}={text}"])
    if args is None:
        assert len(err.strip().splitlines()) == 1 and "error:" in err, err
        return
    v = getattr(args, option.lstrip("-").replace("-", "_"))
    assert _finite(v), (option, text, v)


@pytest.mark.timeout(900)
@settings(max_examples=40, **SETTINGS)
@given(option=st.sampled_from(["--root", "--zc-length", "--repetitions", "--payload",
                               "--seed"]), text=NUMBERS)
def test_waveform_numbers_end_in_a_file_or_one_line(tmp_path, option, text):
    # cheap enough to run to the end for every accepted value
    d = fresh(tmp_path)
    assert_result_or_one_line(*cli("waveform", "--out", os.path.join(d, "w.bin"),
                                   f"{option}={text}"))


@pytest.mark.timeout(900)
@settings(max_examples=30, **SETTINGS)
@given(option=st.sampled_from(["--freq", "--rate", "--min-snr", "--max-h-acc",
                               "--min-fix-type", "--rx-position", "--tx-offset"]),
       data=st.data())
def test_process_from_a_los_log_numbers_end_in_a_result_or_one_line(camp, tmp_path, option,
                                                                     data):
    d = fresh(tmp_path)
    text = data.draw(TRIPLES if option in ("--rx-position", "--tx-offset") else NUMBERS)
    argv = ["process", "--los", camp["los"], "--freq", "1.3e9", "--rate", "1e6", "--array",
            camp["array"], "--tx-gnss", camp["tx"], "--out", os.path.join(d, "o"),
            "--store", os.path.join(d, "s")]
    if option != "--rx-position":
        argv += ["--rx-gnss", camp["rx"]]
    assert_result_or_one_line(*cli(*argv, f"{option}={text}"))


# ---------------------------------------------------------------- as users run it
@pytest.mark.timeout(300)
@pytest.mark.parametrize("args,fragment", [
    (["process", "--zero-pad", "0"], "zero-pad"),
    (["process", "--rx-position", "nan,nan,nan"], "LAT,LON,HEIGHT"),
    (["process", "--apes-len", "5000", "--method", "apes"], "APES"),
    (["waveform", "--payload", "1e11"], "integer"),
    (["waveform", "--payload", "100000000000"], "payload"),
    (["tx", "--rate", "nan"], "not a number"),
    (["tx", "--rate", "1e400"], "finite"),
    (["tx", "--duration", "1e300"], "duration"),
    (["demo", "--rate=-4e6"], "sample rate"),
    (["rx", "--channels", "0"], "channel"),
])
def test_reported_cases_are_one_line_as_subprocesses(camp, tmp_path, args, fragment):
    verb, rest = args[0], args[1:]
    base = {"process": ["--iq", camp["meta"], "--array", camp["array"], "--tx-gnss", camp["tx"],
                        "--rx-gnss", camp["rx"], "--out", tmp_path / "o", "--store",
                        tmp_path / "s"],
            "waveform": ["--out", tmp_path / "w.bin"], "tx": ["--sink", f"file:{tmp_path}/t"],
            "demo": ["--out", tmp_path / "d"], "rx": ["--out", tmp_path / "r"]}[verb]
    assert_one_line_error(run_cli(verb, *base, *rest), fragment)


@pytest.mark.timeout(300)
def test_unreadable_and_non_utf8_inputs_are_one_line(camp, tmp_path):
    bad = tmp_path / "array.yaml"
    bad.write_bytes(b"name: x\nelements: \xff\xfe\n")
    p = run_cli("process", "--los", camp["los"], "--freq", "1.3e9", "--rate", "1e6",
                "--array", bad, "--tx-gnss", camp["tx"], "--rx-gnss", camp["rx"], "--out",
                tmp_path / "o", "--store", tmp_path / "s")
    assert_one_line_error(p)
    meta = tmp_path / "rec.sigmf-meta"
    meta.write_bytes(b'{"global": {"core:datatype": "\xff"}}')
    p = run_cli("process", "--iq", meta, "--array", camp["array"], "--tx-gnss", camp["tx"],
                "--rx-gnss", camp["rx"], "--out", tmp_path / "o", "--store", tmp_path / "s")
    assert_one_line_error(p)
    # a directory where a file is expected, and an output that cannot be a directory
    p = run_cli("process", "--los", tmp_path, "--freq", "1.3e9", "--rate", "1e6", "--array",
                camp["array"], "--tx-gnss", camp["tx"], "--rx-gnss", camp["rx"], "--out",
                tmp_path / "o", "--store", tmp_path / "s")
    assert_one_line_error(p)
    shutil.copy(camp["array"], tmp_path / "file")
    p = run_cli("process", "--los", camp["los"], "--freq", "1.3e9", "--rate", "1e6", "--array",
                camp["array"], "--tx-gnss", camp["tx"], "--rx-gnss", camp["rx"], "--out",
                tmp_path / "file", "--store", tmp_path / "s")
    assert_one_line_error(p)


@pytest.mark.timeout(60)
def test_process_refuses_a_rate_for_a_recording(tmp_path):
    # a recording carries its own sample rate: --rate with --iq would be ignored, so it
    # is refused, before any file is read
    p = run_cli("process", "--iq", tmp_path / "rec.sigmf-meta", "--array", tmp_path / "a.yaml",
                "--tx-gnss", tmp_path / "tx.ubx", "--out", tmp_path / "out", "--rate", "5e6")
    assert_one_line_error(p, "--rate goes with --los")
    assert not (tmp_path / "out").exists()
