#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""File formats from the field: u-center configurations (u-blox 9 as saved, legacy u-blox 8,
config changes 1.0), RTKLIB .pos in every time system, older u-blox logs (NAV-SOL,
NAV-POSLLH), `gnss convert`'s verdicts, leap-second sources. pyubx2 decodes the messages
independently of arraycal; the RTKLIB variants were derived by tests/data/rtklib/make_variants.py
with datetime and pymap3d."""

import calendar
import csv
import datetime as dt
import os
import pty
import re
import tempfile
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pyubx2 import UBXMessage, UBXReader
from pyubx2.ubxtypes_configdb import UBX_CONFIG_DATABASE

from gnuradio.arraycal import timeutil
from gnuradio.arraycal.errors import UserError
from gnuradio.arraycal.gnss import config as ubxconfig, log as gnsslog, reader, rtklib
from gnuradio.arraycal.gnss import ubx as gnss

from conftest import assert_one_line_error, data_file, run_cli

THESIS_CFG = data_file("thesis", "GNSS_Configuration.txt")
FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def hexline(name, cls, mid, payload):
    body = bytes((cls, mid)) + len(payload).to_bytes(2, "little") + payload
    return f"{name} - " + body.hex(" ").upper()


def mon_ver_payload(sw, hw, *ext):
    out = sw.encode().ljust(30, b"\0") + hw.encode().ljust(10, b"\0")
    return out + b"".join(e.encode().ljust(30, b"\0") for e in ext)


MON_VER = hexline("MON-VER", 0x0A, 0x04, mon_ver_payload(
    "EXT CORE 1.00 (61b2dd)", "00190000", "ROM BASE 0x118B2060", "FWVER=HPG 1.13",
    "PROTVER=27.12", "MOD=ZED-F9P", "GPS;GLO;GAL;BDS", "QZSS"))


def frame_of(line):
    """The UBX frame (sync + checksum) of a u-center 'NAME - hex' line."""
    body = bytes.fromhex(line.partition(" - ")[2])
    return gnss.SYNC + body + gnss.ubx_checksum(body)


def pyubx2_value(msg, kid):
    """pyubx2's decoding of one key, as a number (X types: their little-endian bytes)."""
    names = [n for n, (k, _) in UBX_CONFIG_DATABASE.items() if k == kid and hasattr(msg, n)]
    assert len(names) == 1, (hex(kid), names)
    v = getattr(msg, names[0])
    return int.from_bytes(v, "little") if isinstance(v, bytes) else v


# ---------------------------------------------------------------- u-center, u-blox 9
def as_layer(line, layer):
    """The same CFG-VALGET line as read from another layer (payload byte 1)."""
    b = bytearray.fromhex(line.partition(" - ")[2])
    b[5] = layer
    return "CFG-VALGET - " + b.hex(" ").upper()


def test_gen9_file_as_ucenter_saves_it_with_mon_ver_and_any_layer(tmp_path):
    lines = THESIS_CFG.read_text().split("\n")
    lines = [ln for ln in lines if ln.strip()]
    # u-center writes the receiver's MON-VER first; the layer byte says which layer was read
    saved = [MON_VER] + [as_layer(ln, (0, 1, 2, 7)[i % 4]) for i, ln in enumerate(lines)]
    p = tmp_path / "f9p.txt"
    p.write_text("\r\n".join(saved) + "\r\n")  # u-center is a Windows program
    cfg = ubxconfig.read_config(p)
    plain = ubxconfig.read_config(THESIS_CFG)
    assert cfg.format == "gen9" and cfg.values == plain.values and len(cfg.values) == 1155
    assert "MOD=ZED-F9P" in cfg.receiver and "FWVER=HPG 1.13" in cfg.receiver
    out = run_cli("gnss", "config", p, "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "u-blox 9 CFG-VALGET file (written by EXT CORE 1.00 (61b2dd); 00190000" in out.stdout
    assert "CFG-RATE-MEAS (0x30210001, U2) = 200" in out.stdout


def test_gen9_typed_values_match_pyubx2_for_every_known_key():
    compared = set()
    for line in THESIS_CFG.read_text().splitlines():
        if not line.strip():
            continue
        msg = UBXReader.parse(frame_of(line))
        assert msg.identity == "CFG-VALGET"
        for kid, val in ubxconfig.parse_valget_payload(bytes.fromhex(line[13:])[4:], "t"):
            if kid in ubxconfig.KEY_NAMES:
                assert ubxconfig.decoded_value(kid, val) == pyubx2_value(msg, kid), hex(kid)
                compared.add(kid)
    assert len(compared) == 1155 - 495  # 495 keys of this dump are not in pyubx2's database


def test_dry_run_prints_floats_as_floats_and_x_types_in_hex(tmp_path):
    maja, dx = ubxconfig.KEY_IDS["CFG_NAVSPG_USRDAT_MAJA"], ubxconfig.KEY_IDS["CFG_NAVSPG_USRDAT_DX"]
    i2c, rate = ubxconfig.KEY_IDS["CFG_INFMSG_UBX_I2C"], ubxconfig.KEY_IDS["CFG_RATE_MEAS"]
    payload = bytes((1, 0, 0, 0))
    for kid, val in ((maja, np.float64(6378137.0).tobytes()), (dx, np.float32(-1.5).tobytes()),
                     (i2c, b"\x07"), (rate, (100).to_bytes(2, "little")),
                     (0x10ff00aa, b"\x01")):  # a key pyubx2 does not know
        payload += kid.to_bytes(4, "little") + val
    line = hexline("CFG-VALGET", 0x06, 0x8B, payload)
    msg = UBXReader.parse(frame_of(line))
    assert msg.CFG_NAVSPG_USRDAT_MAJA == 6378137.0 and msg.CFG_INFMSG_UBX_I2C == b"\x07"
    p = tmp_path / "usrdat.txt"
    p.write_text(MON_VER + "\n" + line + "\n")
    out = run_cli("gnss", "config", p, "--dry-run").stdout
    assert "CFG-NAVSPG-USRDAT_MAJA (0x50110062, R8) = 6378137.0\n" in out
    assert "CFG-NAVSPG-USRDAT_DX (0x40110064, R4) = -1.5\n" in out
    assert "CFG-INFMSG-UBX_I2C (0x20920001, X1) = 0x07\n" in out
    assert "CFG-RATE-MEAS (0x30210001, U2) = 100\n" in out
    assert "CFG-0x10ff00aa (0x10ff00aa, L1) = 1\n" in out


# ---------------------------------------------------------------- u-center, legacy u-blox 8
M8_MESSAGES = [
    UBXMessage("CFG", "CFG-PRT", 1, portID=1, charLen=3, parity=4, baudRate=115200,
               inUBX=1, inNMEA=1, outUBX=1, outNMEA=1),
    UBXMessage("CFG", "CFG-RATE", 1, measRate=200, navRate=1, timeRef=1),
    UBXMessage("CFG", "CFG-MSG", 1, msgClass=0x01, msgID=0x06, rateUART1=1, rateUSB=1),
    UBXMessage("CFG", "CFG-NAV5", 1, dynModel=8, fixMode=3),
]


def m8_file(tmp_path):
    lines = [hexline("MON-VER", 0x0A, 0x04, mon_ver_payload(
        "ROM CORE 3.01 (107888)", "00080000", "FWVER=SPG 3.01", "PROTVER=18.00"))]
    for m in M8_MESSAGES:
        raw = m.serialize()
        lines.append(hexline(m.identity, raw[2], raw[3], raw[6:-2]))
    p = tmp_path / "m8.txt"
    p.write_text("\r\n".join(lines) + "\r\n")
    return p


def test_legacy_m8_file_is_applied_as_its_messages_and_each_ack_is_matched(tmp_path):
    cfg = ubxconfig.read_config(m8_file(tmp_path))
    assert cfg.format == "m8" and "PROTVER=18.00" in cfg.receiver
    frames = cfg.frames(["ram"])
    assert frames == [m.serialize() for m in M8_MESSAGES]
    for fr, m in zip(frames, M8_MESSAGES):  # pyubx2 reads them back as the same messages
        assert UBXReader.parse(fr, msgmode=1).identity == m.identity
    # the receiver acknowledges each message by its class and id; it refuses CFG-NAV5
    master, slave = pty.openpty()

    def receiver():
        framer = gnss.UbxFramer()
        n = 0
        while n < len(frames):
            for _, raw in framer.feed(os.read(master, 4096)):
                ack = 0x00 if raw[3] == 0x24 else 0x01
                os.write(master, gnss.ubx_frame(0x05, ack, raw[2:4]))
                n += 1

    th = threading.Thread(target=receiver, daemon=True)
    th.start()
    dev = gnsslog.open_port(os.ttyname(slave), 38400)
    results = ubxconfig.apply(dev, frames, timeout=5.0)
    th.join(timeout=10)
    dev.close()
    os.close(master)
    assert [r for _, r in results] == ["ack", "ack", "ack", "nak"]
    out = run_cli("gnss", "config", m8_file(tmp_path), "--dry-run").stdout
    assert "u-blox 8 configuration (written by ROM CORE 3.01 (107888)" in out
    assert "CFG-PRT (06 00, 20 bytes)" in out


# ---------------------------------------------------------------- u-center, changes 1.0
CHANGES = """# Config changes format version 1.0
# created by u-center version 23.08 at 12:00:00 on Monday, 01 Jun 2026
[del]
Flash CFG-UART1-BAUDRATE                        # delete item id 0x40520001 in layer 2
  BBR CFG-RATE-MEAS
[set]
  RAM CFG-UART1-BAUDRATE   0x1c200              # write value 115200  0x1c200      to item id 0x40520001 in layer 0
Flash CFG-UART1-BAUDRATE   0x1c200              # write value 115200  0x1c200      to item id 0x40520001 in layer 2
  RAM CFG-RATE-MEAS        200                  # write value 200                  to item id 0x30210001 in layer 0
  RAM CFG-NAVSPG-USRDAT_MAJA 6378137.0          # write value 6378137.0            to item id 0x50110062 in layer 0
  RAM CFG-INFMSG-UBX_I2C   0x07                 # write value 7                    to item id 0x20920001 in layer 0
  BBR CFG-NAVSPG-USRDAT_DX -1.5                 # write value -1.5                 to item id 0x40110064 in layer 1
  RAM CFG-FUTURE-KEY       3                    # write value 3                    to item id 0x20ff0042 in layer 0
"""


def test_config_changes_format_sets_and_deletes_in_the_layers_it_names(tmp_path):
    p = tmp_path / "changes.txt"
    p.write_text(CHANGES)
    cfg = ubxconfig.read_config(p)
    assert cfg.format == "changes-1.0"
    frames = cfg.frames(["ram", "bbr"])  # --layers does not apply: each line names its layer
    msgs = [UBXReader.parse(fr, msgmode=1) for fr in frames]
    assert [m.identity for m in msgs] == ["CFG-VALDEL", "CFG-VALDEL", "CFG-VALSET",
                                          "CFG-VALSET", "CFG-VALSET"]
    # VALDEL: BBR then Flash, the key IDs as the file gives them
    assert frames[0][6:] [:4] == bytes((0, 2, 0, 0))
    assert frames[0][10:14] == (0x30210001).to_bytes(4, "little")
    assert frames[1][6:10] == bytes((0, 4, 0, 0))
    assert frames[1][10:14] == (0x40520001).to_bytes(4, "little")
    ram, bbr, flash = msgs[2:]
    assert (ram.ram, ram.bbr, ram.flash) == (1, 0, 0)
    assert ram.CFG_UART1_BAUDRATE == 115200 and ram.CFG_RATE_MEAS == 200
    assert ram.CFG_NAVSPG_USRDAT_MAJA == 6378137.0 and ram.CFG_INFMSG_UBX_I2C == b"\x07"
    assert (bbr.bbr, bbr.CFG_NAVSPG_USRDAT_DX) == (1, -1.5)
    assert (flash.flash, flash.CFG_UART1_BAUDRATE) == (1, 115200)
    # a key pyubx2 does not know is set by the ID in u-center's comment
    assert (0x20ff0042).to_bytes(4, "little") + b"\x03" in frames[2]
    out = run_cli("gnss", "config", p, "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "config changes format 1.0: 7 values set, 2 deleted" in out.stdout
    assert "Flash CFG-UART1-BAUDRATE (0x40520001, U4) deleted" in out.stdout
    assert "RAM   CFG-NAVSPG-USRDAT_MAJA (0x50110062, R8) = 6378137.0" in out.stdout


@pytest.mark.parametrize("body,fragment", [
    ("[set]\n  RAM CFG-NO-SUCH 1\n", "unknown configuration key CFG-NO-SUCH"),
    ("[del]\n  RAM CFG-RATE-MEAS\n", "RAM values cannot be deleted"),
    ("[set]\n  ROM CFG-RATE-MEAS 1\n", "layer 'ROM'"),
    ("[set]\n  RAM CFG-RATE-MEAS 70000\n", "does not fit CFG-RATE-MEAS (U2)"),
    ("[set]\n  RAM CFG-RATE-MEAS fast\n", "'fast' is not a number"),
    ("  RAM CFG-RATE-MEAS 1\n", "before [set] or [del]"),
])
def test_config_changes_errors_are_one_line_naming_the_line(tmp_path, body, fragment):
    p = tmp_path / "c.txt"
    p.write_text("# Config changes format version 1.0\n" + body)
    assert_one_line_error(run_cli("gnss", "config", p, "--dry-run"), "c.txt:", fragment)


@pytest.mark.parametrize("text,fragment", [
    ("hello world\n", "not a u-center configuration file"),
    (MON_VER + "\nNAV-PVT - 01 07 00 00\n", "is not a configuration message"),
    (MON_VER + "\n", "holds no configuration line"),
])
def test_unsupported_configuration_files_are_refused_naming_the_format(tmp_path, text, fragment):
    p = tmp_path / "x.txt"
    p.write_text(text)
    assert_one_line_error(run_cli("gnss", "config", p, "--dry-run"), fragment)


def _read_config_text(data):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "cfg.txt")
        with open(p, "wb") as f:
            f.write(data)
        try:
            cfg = ubxconfig.read_config(p)
        except UserError as e:
            assert "\n" not in str(e)
            return None
        cfg.frames(["ram"])  # whatever was read can be sent
        for _, kid, val in cfg.items():
            if val is not None:
                ubxconfig.format_value(kid, val)
        return cfg


SEEDS = [
    (MON_VER + "\n" + THESIS_CFG.read_text().splitlines()[0] + "\n").encode(),
    CHANGES.encode(),
]


@FUZZ
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_configuration_files_end_in_a_result_or_one_line_error(seed, data):
    b = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(b) - 1))
        op = data.draw(st.sampled_from(("flip", "cut", "dup")))
        if op == "flip":
            b[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del b[i:i + data.draw(st.integers(1, 40))]
        else:
            b[i:i] = b[i:i + 20]
        if not b:
            b = bytearray(b"#")
    _read_config_text(bytes(b))


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_as_configuration_end_in_a_result_or_one_line_error(data):
    _read_config_text(data)


# ---------------------------------------------------------------- RTKLIB
RTK = "rtklib"
VARIANTS = ["rtklib-py_demo5_b34f_f_head.pos", "demo5_gpst_weektow.pos", "demo5_utc_date.pos",
            "demo5_utc_weektow.pos", "demo5_jst_date.pos", "demo5_jst_weektow.pos",
            "demo5_utc_date_ecef.pos", "demo5_jst_weektow_dms.pos"]


def test_rtklib_real_file_times_match_its_own_header():
    path = data_file(RTK, "rtklib-py_demo5_b34f_f_head.pos")
    head = path.read_text()
    m = re.search(r"obs start : (\S+ \S+) GPST \(week(\d+) ([\d.]+)s\)", head)
    fixes = rtklib.read_pos(path)
    assert len(fixes) == 120
    assert fixes[0].gps_time == timeutil.GPS_EPOCH_UNIX + int(m.group(2)) * 604800 + float(
        m.group(3))
    assert fixes[0].gps_time == calendar.timegm(
        dt.datetime.strptime(m.group(1), "%Y/%m/%d %H:%M:%S.%f").timetuple())
    assert (fixes[0].lat, fixes[0].lon, fixes[0].height) == (40.097025378, -105.147247371,
                                                            1578.8456)
    assert [f.carr_soln for f in fixes].count(2) == 120 - 68  # Q=1 from 21:29:50 on
    # rtklib-py's own week/TOW output of the same receiver (py_0315f)
    wk = rtklib.read_pos(data_file(RTK, "rtklib-py_py_0315f_head.pos"))
    assert wk[0].gps_time == timeutil.GPS_EPOCH_UNIX + 2137 * 604800 + 422922.0
    assert (wk[0].lat, wk[0].lon) == (40.097024946, -105.147249402)


@pytest.mark.parametrize("name", VARIANTS[1:])
def test_rtklib_every_time_system_and_format_gives_the_same_positions_and_gps_times(name):
    ref = rtklib.read_pos(data_file(RTK, VARIANTS[0]))
    got = rtklib.read_pos(data_file(RTK, name))
    assert len(got) == len(ref) == 120
    # JST is UTC + 9 h, UTC is GPST - 18 s in 2020: the same instants in GPS time
    assert [f.gps_time for f in got] == pytest.approx([f.gps_time for f in ref], abs=1e-6)
    ecef = "ecef" in name
    tol_deg = 1e-9 if not ecef else 2e-9   # 0.1 mm of ECEF digits
    np.testing.assert_allclose([f.lat for f in got], [f.lat for f in ref], atol=tol_deg, rtol=0)
    np.testing.assert_allclose([f.lon for f in got], [f.lon for f in ref], atol=tol_deg, rtol=0)
    np.testing.assert_allclose([f.height for f in got], [f.height for f in ref],
                               atol=2e-4 if ecef else 1e-9, rtol=0)
    assert [f.carr_soln for f in got] == [f.carr_soln for f in ref]


def test_rtklib_enu_baseline_is_refused_naming_the_format():
    p = data_file(RTK, "rtklib_demo1_out_enu_head.pos")
    with pytest.raises(UserError, match="east/north/up baseline"):
        rtklib.read_pos(p)
    assert_one_line_error(run_cli("gnss", "convert", p, "--out", os.devnull),
                          "e/n/u-baseline", "rnx2rtkp without -a")


def test_rtklib_geodetic_heights_are_refused(tmp_path):
    p = tmp_path / "g.pos"
    src = data_file(RTK, VARIANTS[0]).read_text()
    p.write_text(src.replace("height=WGS84/ellipsoidal", "height=WGS84/geodetic"))
    with pytest.raises(UserError, match="geoid"):
        rtklib.read_pos(p)


def _read_pos_text(text):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.pos")
        with open(p, "w", encoding="latin-1") as f:
            f.write(text)
        try:
            fixes = rtklib.read_pos(p)
        except UserError as e:
            assert "\n" not in str(e)
            return None
        for f in fixes:
            assert np.isfinite([f.gps_time, f.lat, f.lon, f.height]).all()
        return fixes


POS_SEEDS = [data_file(RTK, n).read_text().splitlines(True)[-8:] for n in VARIANTS]
POS_HEADS = [[ln for ln in data_file(RTK, n).read_text().splitlines(True)
              if ln.startswith("%")][-1] for n in VARIANTS]


@FUZZ
@given(k=st.integers(0, len(VARIANTS) - 1), data=st.data())
def test_mutated_rtklib_text_ends_in_fixes_or_one_line_error(k, data):
    text = POS_HEADS[k] + "".join(POS_SEEDS[k][-4:])
    chars = list(text)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(chars) - 1))
        chars[i] = data.draw(st.sampled_from(list("0123456789 -.:/\n%eE+naif") + ["", "99999"]))
    _read_pos_text("".join(chars))


# ---------------------------------------------------------------- older u-blox logs
def without(ident, raw_log):
    """The same log with every `ident` message removed (pyubx2 does the framing)."""
    out = b""
    import io
    for raw, msg in UBXReader(io.BytesIO(raw_log), protfilter=7, quitonerror=0):
        if msg is None or getattr(msg, "identity", "") != ident:
            out += raw
    return out


def test_an_m8_log_without_nav_pvt_gives_fixes_from_nav_sol_and_nav_posllh(tmp_path):
    src = data_file("ubx", "pygpsdata-MIXED.log").read_bytes()
    pvt_fixes, _ = gnss.read_ubx_file(data_file("ubx", "pygpsdata-MIXED.log"))
    old = tmp_path / "m8.ubx"
    old.write_bytes(without("NAV-PVT", src))
    fixes, dec = gnss.read_ubx_file(old)
    assert dec.assembler.seen.get("NAV-PVT", 0) == 0 and dec.assembler.seen["NAV-SOL"] == 39
    by_time = {f.gps_time: f for f in pvt_fixes}
    assert len(fixes) == 39 and all(f.gps_time in by_time for f in fixes)
    for f in fixes:
        p = by_time[f.gps_time]
        assert f.fix_type == p.fix_type and f.gnss_fix_ok == p.gnss_fix_ok
        # the same receiver solution: NAV-SOL's ECEF is in cm, NAV-POSLLH's in 1e-7 deg
        assert f.lat == pytest.approx(p.lat, abs=3e-7)
        assert f.lon == pytest.approx(p.lon, abs=3e-7)
        assert f.height == pytest.approx(p.height, abs=0.05)


def _m8_epoch(t, lat, lon, h, sol=True, posllh=True, status=False, timegps=True):
    import pymap3d
    week, tow = timeutil.week_tow(t)
    itow = int(round(tow * 1000))
    out = b""
    if sol:
        x, y, z = pymap3d.geodetic2ecef(lat, lon, h)
        out += UBXMessage("NAV", "NAV-SOL", 0, iTOW=itow, fTOW=0, week=week, gpsFix=3,
                          gpsfixOK=1, wknSet=1, towSet=1, ecefX=int(round(x * 100)),
                          ecefY=int(round(y * 100)), ecefZ=int(round(z * 100)), pAcc=150,
                          numSV=9).serialize()
    if posllh:
        out += UBXMessage("NAV", "NAV-POSLLH", 0, iTOW=itow, lon=lon, lat=lat,
                          height=int(round(h * 1000)), hMSL=0, hAcc=900, vAcc=1500).serialize()
    if status:
        out += UBXMessage("NAV", "NAV-STATUS", 0, iTOW=itow, gpsFix=3, gpsFixOk=1).serialize()
    if timegps:  # after the epoch's NAV messages, as receivers order them by id
        out += UBXMessage("NAV", "NAV-TIMEGPS", 0, iTOW=itow, week=week, leapS=18,
                          towValid=1, weekValid=1, leapSValid=1).serialize()
    return out


def test_nav_sol_alone_and_posllh_with_status_give_fixes_across_a_week_rollover(tmp_path):
    t0 = timeutil.gps_from_week_tow(2400, 604800 - 2.0)  # two epochs before the rollover
    truth = [(t0 + i, 63.4 + 1e-6 * i, 10.4 - 1e-6 * i, 60.0 + 0.1 * i) for i in range(5)]
    sol_only = b"".join(_m8_epoch(*x, posllh=False, timegps=False) for x in truth)
    posllh = b"".join(_m8_epoch(*x, sol=False, status=True) for x in truth)
    for name, data, tol in (("sol", sol_only, 2e-7), ("posllh", posllh, 1e-7)):
        p = tmp_path / f"{name}.ubx"
        p.write_bytes(data)
        fixes, dec = gnss.read_ubx_file(p)
        assert len(fixes) == 5, name
        for f, (t, lat, lon, h) in zip(fixes, truth):
            assert f.gps_time == pytest.approx(t, abs=1e-3), name  # rollover: the right week
            assert (f.lat, f.lon) == (pytest.approx(lat, abs=tol), pytest.approx(lon, abs=tol))
            assert f.height == pytest.approx(h, abs=0.02)
            assert f.fix_type == 3 and f.gnss_fix_ok
        out = run_cli("gnss", "convert", p, "--out", tmp_path / f"{name}.csv")
        assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------- gnss convert
def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_convert_reads_ubx_and_pos_into_the_same_csv(tmp_path):
    a = run_cli("gnss", "convert", data_file(RTK, "demo5_jst_date.pos"), "--out", tmp_path / "a.csv")
    assert a.returncode == 0 and "RTKLIB solution, 120 epochs" in a.stdout
    b = run_cli("gnss", "convert", data_file("ubx", "pygpsdata-MIXED.log"), "--out",
                tmp_path / "b.csv")
    assert b.returncode == 0
    ra, rb = _csv(tmp_path / "a.csv"), _csv(tmp_path / "b.csv")
    assert list(ra[0]) == list(rb[0]) == gnss.CSV_COLUMNS
    gpst = rtklib.read_pos(data_file(RTK, VARIANTS[0]))
    assert [float(r["gps_time"]) for r in ra] == pytest.approx([f.gps_time for f in gpst])
    assert ra[0]["utc"] == "2020-12-24T21:28:24.000000Z"  # 21:28:42 GPST - 18 s


def _nmea_only(tmp_path):
    lines = [ln for ln in data_file("ubx", "pygpsdata-MIXED3.log").read_bytes().split(b"\r\n")
             if ln.startswith(b"$")]
    return b"\r\n".join(lines) + b"\r\n"


@pytest.mark.parametrize("kind,fragment", [
    ("garbage", "no UBX frame"),
    ("text", "a text file"),
    ("nmea", "NMEA only"),
    ("posllh", "NAV-POSLLH only"),
    ("nonav", "no navigation solution: enable NAV-PVT"),
    ("nofix", "none with a position fix"),
    ("empty_pos", "without solution lines"),
])
def test_convert_without_a_fix_exits_2_with_a_hint(tmp_path, rng, kind, fragment):
    p = tmp_path / f"{kind}.ubx"
    if kind == "garbage":
        p.write_bytes(bytes(rng.integers(128, 256, 5000, dtype=np.uint8)))
    elif kind == "text":
        p.write_text("time,lat,lon\n1,2,3\n")
    elif kind == "nmea":
        p.write_bytes(_nmea_only(tmp_path))
    elif kind == "posllh":
        p.write_bytes(_m8_epoch(timeutil.gps_from_week_tow(2400, 100.0), 63, 10, 5, sol=False))
    elif kind == "nonav":
        p.write_bytes(UBXMessage("MON", "MON-VER", 0, swVersion=b"ROM CORE 3.01",
                                 hwVersion=b"00080000").serialize() * 3)
    elif kind == "nofix":
        from gnuradio.arraycal.gnss import ubxgen
        p.write_bytes(ubxgen.epoch(timeutil.gps_from_week_tow(2400, 100.0), 63, 10, 5,
                                   fix_type=0, hp=False))
    else:
        p = tmp_path / "e.pos"
        p.write_text("%  GPST          latitude(deg) longitude(deg)  height(m)   Q  ns\n")
    out = tmp_path / "out.csv"
    assert_one_line_error(run_cli("gnss", "convert", p, "--out", out), "no position fix",
                          fragment)
    assert not out.exists()


# ---------------------------------------------------------------- leap seconds
LIST_HEAD = """#	Leap seconds list in the IERS format (NTP seconds since 1900, TAI - UTC)
#@	4102444800
2272060800	10	# 1 Jan 1972
"""


def _list_lines():
    out = []
    for d, n in timeutil.LEAP_SECONDS:
        ntp = calendar.timegm(dt.date.fromisoformat(d).timetuple()) - timeutil.NTP_EPOCH_UNIX
        out.append(f"{ntp}\t{n + 19}\t# {d}")
    return out


def test_leap_seconds_system_list_when_present_else_the_table(tmp_path):
    sysfile = timeutil.SYSTEM_LEAP_SECONDS_LIST
    try:
        if os.path.isfile(sysfile):
            assert timeutil.LEAP_SOURCE == sysfile
            # the system's IERS list and the built-in table agree on every leap second
            with open(sysfile) as f:
                assert timeutil.parse_leap_seconds_list(f.read()) == timeutil.BUILTIN_LEAP_TABLE
        else:
            assert timeutil.LEAP_SOURCE == "built-in table"
        # a list announcing a (fictitious) leap second on 2027-07-01 is used
        future = tmp_path / "leap-seconds.list"
        ntp = calendar.timegm((2027, 7, 1, 0, 0, 0)) - timeutil.NTP_EPOCH_UNIX
        future.write_text(LIST_HEAD + "\n".join(_list_lines()) + f"\n{ntp}\t38\t# 1 Jul 2027\n")
        assert timeutil.load_leap_seconds(str(future)) == str(future)
        july = calendar.timegm((2027, 7, 1, 0, 0, 0))
        assert timeutil.leap_seconds_at_utc(july - 1) == 18
        assert timeutil.leap_seconds_at_utc(july) == 19
        assert timeutil.utc_to_gps(july + 10) == july + 29
        assert gnss.UbxStats().leap_source == str(future)
        # a damaged or stale list is not used: the table is
        for text in ("2272060800 ten\n", LIST_HEAD, "\n".join(_list_lines()[:-2])):
            bad = tmp_path / "bad.list"
            bad.write_text(text)
            assert timeutil.load_leap_seconds(str(bad)) == "built-in table"
            assert timeutil.leap_seconds_at_utc(july) == 18
    finally:
        timeutil.load_leap_seconds()


def test_the_receivers_leap_seconds_win_over_any_list(tmp_path):
    from gnuradio.arraycal.gnss import ubxgen
    t = timeutil.gps_from_week_tow(2400, 1000.0)
    data = ubxgen.nav_timegps(t, leap=17).serialize() + ubxgen.nav_pvt(t, 63, 10, 5, leap=17) \
        .serialize()
    p = tmp_path / "l.ubx"
    p.write_bytes(data)
    fixes, dec = gnss.read_ubx_file(p)
    assert (dec.stats.leap_seconds, dec.stats.leap_source) == (17, "NAV-TIMEGPS")
    assert fixes[0].gps_time == pytest.approx(t, abs=1e-3)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("0123456789 \t#@\n-x")), max_size=400))
def test_arbitrary_leap_seconds_lists_parse_or_are_rejected(text):
    table = timeutil.parse_leap_seconds_list(text)
    assert table is None or all(b[0] > a[0] for a, b in zip(table, table[1:]))


# ---------------------------------------------------------------- mutated UBX logs
@FUZZ
@given(data=st.data())
def test_mutated_ubx_logs_end_in_fixes_or_one_line_verdicts(data):
    src = data_file("ubx", "pygpsdata-MIXED.log").read_bytes()[:6000]
    b = bytearray(src)
    for _ in range(data.draw(st.integers(1, 20))):
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.ubx")
        with open(p, "wb") as f:
            f.write(bytes(b))
        fixes, summary, dec = reader.read_fixes(p)
        why = reader.no_fix_reason(p, fixes, dec)
        assert why is None or "\n" not in why
        for f in fixes:
            assert np.isfinite([f.gps_time, f.lat, f.lon, f.height]).all()


# ---------------------------------------------------------------- SigMF datatypes
from gnuradio import blocks, gr  # noqa: E402
from gnuradio.arraycal.radio import recording as sigrec  # noqa: E402


def _iq(rng, nch, n, dtype):
    lim = {"i2": 32767, "i1": 127}[dtype]
    return rng.integers(-lim - 1, lim + 1, size=(n, nch, 2)).astype(dtype)


@pytest.mark.parametrize("datatype,dtype,scale", [("ci16_le", "<i2", 32767.0),
                                                  ("ci8", "i1", 127.0)])
def test_iq_converter_matches_numpy_for_integer_types(rng, datatype, dtype, scale):
    from gnuradio.arraycal.arraycal_python import iq_converter
    for nch in (1, 3):
        raw = _iq(rng, nch, 1001, dtype[-2:])
        got = iq_converter(datatype, nch).convert(raw.astype(dtype).tobytes())
        ref = (raw[..., 0] + 1j * raw[..., 1]).T / scale   # (nch, n)
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=0)
    x = (rng.standard_normal((500, 2)) + 1j * rng.standard_normal((500, 2))).astype(np.complex64)
    np.testing.assert_array_equal(iq_converter("cf32_le", 2).convert(x.tobytes()), x.T)
    with pytest.raises(ValueError, match="cu8"):
        iq_converter("cu8", 1)


def _write_meta(base, glob, captures):
    meta = {"global": {"core:version": "1.2.0", "core:sample_rate": 1e6, **glob},
            "captures": captures, "annotations": []}
    with open(str(base) + ".sigmf-meta", "w") as f:
        import json
        json.dump(meta, f)
    return str(base) + ".sigmf-meta"


def _stream(meta, progress=None):
    """Every output of sigmf_source: (nch, n) samples and the rx_time tags (offset, secs)."""
    src = sigrec.sigmf_source(meta, progress)
    nch = src.rec.num_channels
    tb = gr.top_block()
    sinks = [blocks.vector_sink_c() for _ in range(nch)]
    for c in range(nch):
        tb.connect((src, c), sinks[c])
    tb.run()
    tags = [[(t.offset, pmt_time(t.value)) for t in s.tags() if str(t.key) == "rx_time"]
            for s in sinks]
    return np.array([s.data() for s in sinks]), tags, src


def pmt_time(v):
    import pmt
    return pmt.to_uint64(pmt.tuple_ref(v, 0)) + pmt.to_double(pmt.tuple_ref(v, 1))


def test_header_bytes_and_offset_as_the_sigmf_spec_says(tmp_path, rng):
    # the spec's own example: ci8 chunks behind 4-byte headers, 500 samples then the rest;
    # here 2 channels, the file's first sample is absolute index 1000 (core:offset)
    nch, n1, n2 = 2, 500, 300
    a, b = _iq(rng, nch, n1, "i1"), _iq(rng, nch, n2, "i1")
    data = b"HDR1" + a.tobytes() + b"HDR2" + b.tobytes()
    (tmp_path / "ncd.dat").write_bytes(data)
    t0 = timeutil.parse_utc("2026-06-01T10:00:00.25Z")
    meta = _write_meta(tmp_path / "ncd", {"core:datatype": "ci8", "core:num_channels": nch,
                                          "core:offset": 1000, "core:dataset": "ncd.dat"},
                       [{"core:sample_start": 1000, "core:header_bytes": 4,
                         "core:frequency": 1.3e9, "core:datetime": "2026-06-01T10:00:00.25Z"},
                        {"core:sample_start": 1500, "core:header_bytes": 4,
                         "core:frequency": 1.3e9, "core:datetime": "2026-06-01T10:00:01.50Z"}])
    rec = sigrec.open_recording(meta)
    assert [c.byte_offset for c in rec.captures] == [4, 4 + n1 * nch * 2 + 4]  # = 1008 in the spec
    assert [c.samples for c in rec.captures] == [n1, n2] and rec.samples == n1 + n2
    got, tags, _ = _stream(meta)
    ref = np.concatenate([a, b])
    np.testing.assert_allclose(got, (ref[..., 0] + 1j * ref[..., 1]).T / 127.0, rtol=1e-7)
    for ch in tags:  # a capture start on every channel, at its place in the stream
        assert [o for o, _ in ch] == [0, n1]
        assert ch[0][1] == pytest.approx(t0, abs=1e-6)
        assert ch[1][1] == pytest.approx(t0 + 1.25, abs=1e-6)


def test_cf32_ci16_ci8_recordings_stream_the_same_samples_with_progress(tmp_path, rng):
    n, nch = 40000, 3
    x = (rng.uniform(-0.99, 0.99, (nch, n)) + 1j * rng.uniform(-0.99, 0.99, (nch, n)))
    seen = {}
    for dt_ in ("cf32_le", "ci16_le", "ci8"):
        w = sigrec.RecordingWriter(tmp_path / dt_, 1e6, nch, 1.3e9, datatype=dt_)
        w.new_capture(1.78e9)
        w.write(x[:, :25000])
        w.new_capture(1.78e9 + 0.03)  # after a 5000-sample gap
        w.write(x[:, 25000:])
        w.close()
        assert w.clipped == 0
        calls = []
        got, tags, src = _stream(w.meta_path, calls.append)
        assert calls and calls[-1] == n and calls == sorted(calls)  # per buffer, not per sample
        assert [o for o, _ in tags[0]] == [0, 25000] and src.samples_read() == n
        seen[dt_] = got
        size = os.path.getsize(w.data_path)
        assert size == n * nch * sigrec.SAMPLE_BYTES[dt_]
    np.testing.assert_allclose(seen["cf32_le"], x, atol=1e-7)
    # rounding: half a step in I and in Q
    np.testing.assert_allclose(seen["ci16_le"], x, atol=np.sqrt(0.5) / 32767 + 1e-7)
    np.testing.assert_allclose(seen["ci8"], x, atol=np.sqrt(0.5) / 127 + 1e-7)
    # ci16 is written as UHD's sc16: round(x * 32767), saturated beyond full scale
    raw = np.fromfile(tmp_path / "ci16_le.sigmf-data", "<i2")
    inter = np.ascontiguousarray(x.T).astype(np.complex64).view(np.float32).ravel()
    np.testing.assert_array_equal(raw, np.rint(inter * np.float32(32767)).astype("<i2"))
    w = sigrec.RecordingWriter(tmp_path / "hot", 1e6, 1, 1.3e9, datatype="ci16_le")
    w.new_capture(1.78e9)
    w.write(np.array([[1.5 - 2j, 0.5]]))
    w.close()
    assert w.clipped == 2
    assert list(np.fromfile(w.data_path, "<i2")) == [32767, -32768, 16384, 0]


def test_the_sigmf_source_runs_no_python_per_sample(tmp_path):
    w = sigrec.RecordingWriter(tmp_path / "r", 1e6, 2, 1.3e9, datatype="ci16_le")
    w.new_capture(1.78e9)
    w.write(np.zeros((2, 10)))
    w.close()
    src = sigrec.sigmf_source(w.meta_path)
    assert type(src.file).__module__.endswith("arraycal_python")  # the C++ block
    assert src.tap is None   # and nothing else without a progress callback


@pytest.mark.parametrize("glob,caps,fragment", [
    ({"core:datatype": "cu8"}, None, "datatype cu8"),
    ({"core:datatype": "ci16_le", "core:offset": 100}, [{"core:sample_start": 50}],
     "before core:offset"),
    ({"core:datatype": "ci16_le"}, [{"core:sample_start": 0}, {"core:sample_start": 900}],
     "ends inside capture 0"),
    ({"core:datatype": "ci16_le"}, [{"core:sample_start": 0, "core:header_bytes": 4000}],
     "starts beyond the data"),
])
def test_inconsistent_recordings_are_one_line_errors(tmp_path, glob, caps, fragment):
    (tmp_path / "r.sigmf-data").write_bytes(bytes(400 * 4))
    caps = caps or [{"core:sample_start": 0}]
    for c in caps:
        c.update({"core:frequency": 1.3e9, "core:datetime": "2026-06-01T10:00:00Z"})
    meta = _write_meta(tmp_path / "r", glob, caps)
    with pytest.raises(UserError, match=fragment):
        sigrec.open_recording(meta)


@FUZZ
@given(data=st.data())
def test_mutated_sigmf_metadata_opens_or_is_one_line_error(data):
    values = st.one_of(st.integers(-5, 5000), st.text(max_size=5), st.none(), st.floats(),
                       st.booleans(), st.sampled_from(["ci16_le", "ci8", "cf32_le", "rf32_le"]))
    glob = {"core:datatype": "ci16_le", "core:num_channels": 2}
    caps = [{"core:sample_start": 0, "core:frequency": 1.3e9,
             "core:datetime": "2026-06-01T10:00:00Z"},
            {"core:sample_start": 100, "core:frequency": 1.3e9, "core:header_bytes": 8,
             "core:datetime": "2026-06-01T10:00:01Z"}]
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from(["g", "c0", "c1"]))
        key = data.draw(st.sampled_from(["core:datatype", "core:num_channels", "core:offset",
                                         "core:sample_start", "core:header_bytes",
                                         "core:trailing_bytes", "core:datetime",
                                         "core:sample_rate"]))
        d = glob if target == "g" else caps[int(target[1])]
        d[key] = data.draw(values)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "r.sigmf-data"), "wb") as f:
            f.write(bytes(8 + 300 * 8))
        meta = _write_meta(os.path.join(tmp, "r"), glob, caps)
        try:
            rec = sigrec.open_recording(meta)
        except UserError as e:
            assert "\n" not in str(e)
            return
        assert rec.samples > 0 and all(c.byte_offset >= 0 for c in rec.captures)


@pytest.mark.timeout(900)
def test_a_ci16_copy_of_a_recording_gives_the_same_calibration(tmp_path):
    import json
    from gnuradio.arraycal.calibration.pipeline import process
    from simcampaign import TWO_EL, simulate, snake_walk
    offsets = {"A": 1.0, "B": 0.85 * np.exp(-1j * np.radians(64))}
    sim = simulate(tmp_path / "sim", TWO_EL, offsets, 1.3e9, 1e6, 5.0,
                   snake_walk(heading_deg=30.0), snr_db=20, seed=21, gaps=[(2.5, 0.01)])
    src = sigrec.open_recording(sim["meta"])
    x = np.fromfile(src.data_path, np.complex64).reshape(-1, src.num_channels).T
    peak = float(max(np.abs(x.real).max(), np.abs(x.imag).max()))
    gain = min(1.0, 0.9 / peak)  # a common gain: the offsets between elements do not change
    (tmp_path / "ci16").mkdir()
    w = sigrec.RecordingWriter(tmp_path / "ci16" / "campaign", src.sample_rate,
                               src.num_channels, src.frequency, datatype="ci16_le")
    for c in src.captures:  # the same captures (the gap included)
        w.new_capture(c.utc)
        w.write(x[:, c.sample_start:c.sample_start + c.samples] * gain)
    w.close()
    assert w.clipped == 0
    assert os.path.getsize(w.data_path) * 2 == os.path.getsize(src.data_path)  # half the disk
    assert json.load(open(w.meta_path))["global"]["core:datatype"] == "ci16_le"

    def run(meta, out):
        return process(meta, sim["array"], sim["tx"], str(out), rx_gnss=sim["rx"],
                       progress=False, log=lambda m: None, store=str(out / "store"))

    docs = [run(m, tmp_path / name)["doc"] for m, name in ((sim["meta"], "cf32"),
                                                           (w.meta_path, "ci16"))]
    z = [complex(*(e["offset"][k] for k in ("re", "im"))) for d in docs for e in d["elements"]
         if e["id"] == "B"]
    assert abs(np.degrees(np.angle(z[1] / z[0]))) < 0.01
    assert abs(20 * np.log10(abs(z[1]) / abs(z[0]))) < 0.001
    assert docs[0]["quality"]["frames_used"] == docs[1]["quality"]["frames_used"] > 1000
    truth = sim["truth"]["B"]
    assert abs(np.degrees(np.angle(z[1] / truth))) < 1.0


@pytest.mark.timeout(300)
def test_rx_record_format_ci16_halves_the_disk_and_keeps_the_samples(tmp_path, rng):
    x = rng.uniform(-0.9, 0.9, (2, 200000)) + 1j * rng.uniform(-0.9, 0.9, (2, 200000))
    w = sigrec.RecordingWriter(tmp_path / "src", 1e6, 2, 1.3e9)
    w.new_capture(timeutil.parse_utc("2026-06-01T10:00:00Z"))
    w.write(x)
    w.close()
    out = tmp_path / "out"
    p = run_cli("rx", "--source", f"file:{w.meta_path}", "--channels", 2, "--rate", "1e6",
                "--out", out, "--record", "--record-format", "ci16", "--idle-stop", 1)
    assert p.returncode == 0, p.stderr
    rec = sigrec.open_recording(out / "recording.sigmf-meta")
    assert rec.datatype == "ci16_le" and rec.samples == 200000
    assert os.path.getsize(rec.data_path) * 2 == os.path.getsize(w.data_path)
    assert rec.captures[0].utc == pytest.approx(timeutil.parse_utc("2026-06-01T10:00:00Z"),
                                                abs=1e-6)
    got, _, _ = _stream(rec.meta_path)
    np.testing.assert_allclose(got, x, atol=np.sqrt(0.5) / 32767 + 1e-7)
    bad = run_cli("rx", "--source", f"file:{w.meta_path}", "--out", out, "--record-format", "sc8")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_byte_order_marks_and_nmea_in_a_pos_file(tmp_path):
    bom = b"\xef\xbb\xbf"
    p = tmp_path / "bom.txt"
    p.write_bytes(bom + THESIS_CFG.read_bytes())
    assert len(ubxconfig.read_config(p).values) == 1155
    q = tmp_path / "bom.pos"
    q.write_bytes(bom + data_file(RTK, "demo5_jst_date.pos").read_bytes())
    fixes, summary, dec = reader.read_fixes(q)
    assert len(fixes) == 120 and dec is None
    n = tmp_path / "nmea.pos"
    n.write_bytes(_nmea_only(tmp_path))
    with pytest.raises(UserError, match="NMEA sentences"):
        rtklib.read_pos(n)


@FUZZ
@given(lat=st.floats(-89.9, 89.9), lon=st.floats(-179.9, 179.9), h=st.floats(-100, 9000),
       secs=st.integers(0, 2 * 10**9), ms=st.integers(0, 999),
       system=st.sampled_from(["GPST", "UTC", "JST"]), weektow=st.booleans())
def test_rtklib_lines_round_trip_in_every_time_system(lat, lon, h, secs, ms, system, weektow):
    # an instant in GPS time, written as RTKLIB would in `system` (leap seconds of that date)
    gps = timeutil.GPS_EPOCH_UNIX + secs + ms / 1000
    shown = gps if system == "GPST" else timeutil.gps_to_utc(gps) + (9 * 3600 if system == "JST"
                                                                    else 0)
    if weektow:
        s = shown - timeutil.GPS_EPOCH_UNIX
        t = f"{int(s // 604800)} {s - 604800 * int(s // 604800):.3f}"
    else:
        d = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=round(shown * 1000))
        t = d.strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
    text = (f"%  {system}  latitude(deg) longitude(deg)  height(m)   Q  ns   sdn(m)   sde(m)"
            f"   sdu(m)\n{t} {lat:.9f} {lon:.9f} {h:.4f} 1 12 0.01 0.01 0.02\n")
    fixes = _read_pos_text(text)
    assert fixes is not None and len(fixes) == 1
    f = fixes[0]
    utc = timeutil.gps_to_utc(gps)
    if system != "GPST" and timeutil.leap_seconds_at_utc(utc) != timeutil.leap_seconds_at_utc(
            utc - 1):
        return  # the second after a leap second: UTC labels it ambiguously
    assert f.gps_time == pytest.approx(gps, abs=2e-3)
    assert (f.lat, f.lon, f.height) == (pytest.approx(lat, abs=6e-10),
                                        pytest.approx(lon, abs=6e-10), pytest.approx(h, abs=6e-5))


@FUZZ
@given(data=st.data())
def test_config_changes_values_round_trip_through_pyubx2(data):
    kinds = [(n, k, t) for n, (k, t) in UBX_CONFIG_DATABASE.items() if t[0] in "UIRXEL"]
    name, kid, typ = data.draw(st.sampled_from(kinds))
    size = int(typ[1:])
    if typ[0] == "R":
        v = data.draw(st.floats(-1e6, 1e6, width=32 if size == 4 else 64))
        text = repr(v)
    elif typ[0] == "I":
        v = data.draw(st.integers(-2 ** (8 * size - 1), 2 ** (8 * size - 1) - 1))
        text = str(v)
    elif typ[0] == "L":
        v = data.draw(st.integers(0, 1))
        text = str(v)
    else:
        v = data.draw(st.integers(0, 2 ** (8 * size) - 1))
        text = hex(v) if data.draw(st.booleans()) else str(v)
    uname = name.replace("_", "-", 2)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "c.txt")
        with open(p, "w") as f:
            f.write(f"# Config changes format version 1.0\n[set]\n  RAM {uname} {text}\n")
        cfg = ubxconfig.read_config(p)
    msg = UBXReader.parse(cfg.frames()[0], msgmode=1)
    got = getattr(msg, ubxconfig.KEY_NAMES[kid])
    if isinstance(got, bytes):
        got = int.from_bytes(got, "little")
    assert got == pytest.approx(v, rel=1e-7) if typ[0] == "R" else got == v


def test_ucenter2_ucf_items_are_set_and_deleted_in_their_layers(tmp_path):
    import json
    items = [{"key": "0x30210001", "value": 100, "layer": 0, "action": "Set", "valueType": "U2"},
             {"key": "0x50110062", "value": 6378137.0, "layer": 1, "action": "Set",
              "valueType": "R8"},
             {"key": "0x20920006", "value": 7, "layer": 2, "action": "Set", "valueType": "X1"},
             {"key": "0x10710001", "value": True, "layer": 0, "action": "Set", "valueType": "L"},
             {"key": "0x40520001", "value": 0, "layer": 2, "action": "Delete",
              "valueType": "U4"}]
    for it, rid in zip(items, range(len(items))):
        it["requestId"] = f"00000000-0000-0000-0000-00000000000{rid}"
    p = tmp_path / "f9p.ucf"
    p.write_text(json.dumps({"type": "CFG-ITEM", "items": items}, indent="\t"))
    cfg = ubxconfig.read_config(p)
    assert cfg.format == "ucf"
    msgs = [UBXReader.parse(fr, msgmode=1) for fr in cfg.frames()]
    assert [m.identity for m in msgs] == ["CFG-VALDEL", "CFG-VALSET", "CFG-VALSET", "CFG-VALSET"]
    ram, bbr, flash = msgs[1:]
    assert ram.ram == 1 and ram.CFG_RATE_MEAS == 100 and ram.CFG_I2CINPROT_UBX == 1
    assert bbr.bbr == 1 and bbr.CFG_NAVSPG_USRDAT_MAJA == 6378137.0
    assert flash.flash == 1 and flash.CFG_INFMSG_NMEA_I2C == b"\x07"
    out = run_cli("gnss", "config", p, "--dry-run")
    assert "u-center 2 configuration (.ucf): 4 values set, 1 deleted" in out.stdout
    bad = tmp_path / "bad.ucf"
    bad.write_text(json.dumps({"type": "CFG-ITEM", "items": [dict(items[0], layer=5)]}))
    assert_one_line_error(run_cli("gnss", "config", bad, "--dry-run"), "item 0", "layer 5")
    bad.write_text('{"type": "other"}')
    assert_one_line_error(run_cli("gnss", "config", bad, "--dry-run"), "not a u-center 2")


@FUZZ
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(),
                              st.text(max_size=8)),
                    lambda c: st.one_of(st.lists(c, max_size=4),
                                        st.dictionaries(st.sampled_from(
                                            ["key", "value", "layer", "action", "type",
                                             "items"]), c, max_size=5)), max_leaves=12))
def test_arbitrary_json_as_ucf_ends_in_a_result_or_one_line_error(doc):
    import json
    if isinstance(doc, dict):
        doc.setdefault("type", "CFG-ITEM")
    _read_config_text(json.dumps({"type": "CFG-ITEM", "items": [doc]}).encode())
    _read_config_text(json.dumps(doc).encode())
