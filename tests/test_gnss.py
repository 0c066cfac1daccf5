#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""GNSS: UBX round trips, real logs, corruption, leap seconds, logger, config, RTKLIB."""

import os
import pty
import subprocess
import threading

import numpy as np
import pytest
from pyubx2 import UBXReader

from gnuradio import arraycal, gr
from gnuradio.arraycal import timeutil
from gnuradio.arraycal.gnss import config as ubxconfig, log as gnsslog, rtklib, ubx as gnss, ubxgen
from gnuradio.arraycal.errors import UserError

from chain_util import MessageCollector
from conftest import ARRAYCAL, assert_one_line_error, run_cli, data_file

T0 = timeutil.utc_to_gps(timeutil.parse_utc("2026-06-01T12:00:00Z"))


NMEA = b"$GNGGA,120000.00,6324.6,N,01024.0,E,4,12,0.5,50.0,M,40.0,M,1.0,0000*4F\r\n"


def track_bytes(n, rng, hp=True, period=0.2, nmea=True):
    """n epochs of a moving receiver as a ZED-F9P would send them (NMEA interleaved)."""
    truth, data = [], b""
    for i in range(n):
        t = T0 + i * period
        lat, lon, h = 63.41 + 1e-5 * i + rng.normal(0, 1e-8), 10.40 + 2e-5 * i, 50 + 0.01 * i
        truth.append((t, lat, lon, h))
        data += ubxgen.epoch(t, lat, lon, h, hp=hp, carr_soln=2, h_acc=0.012)
        if nmea:
            data += NMEA
    return truth, data


def check_fixes(fixes, truth, atol_deg=1e-9, atol_m=1e-4):
    assert len(fixes) == len(truth)
    for f, (t, lat, lon, h) in zip(fixes, truth):
        assert f.gps_time == pytest.approx(t, abs=1e-3)
        assert f.lat == pytest.approx(lat, abs=atol_deg)
        assert f.lon == pytest.approx(lon, abs=atol_deg)
        assert f.height == pytest.approx(h, abs=atol_m)


# ---------------------------------------------------------------- round trips
def test_generated_ubx_round_trips_positions_and_times(rng):
    truth, data = track_bytes(50, rng)
    dec = gnss.UbxDecoder("tx")
    fixes = []
    for i in range(0, len(data), 37):  # arbitrary chunking, as from a serial port
        fixes += dec.feed(data[i:i + 37])
    fixes += dec.finish()
    check_fixes(fixes, truth)
    assert all(f.hp and f.carr_soln == 2 and f.role == "tx" for f in fixes)
    assert dec.stats.corrupt == dec.stats.truncated == 0
    assert dec.stats.other_bytes == 50 * len(NMEA)  # the NMEA sentences, not errors
    assert dec.stats.leap_seconds == 18 and dec.stats.leap_source == "NAV-TIMEGPS"


def test_without_hpposllh_the_fix_has_nav_pvt_precision(rng):
    truth, data = track_bytes(5, rng, hp=False)
    dec = gnss.UbxDecoder()
    fixes = dec.feed(data) + dec.finish()
    check_fixes(fixes, truth, atol_deg=6e-8, atol_m=6e-4)  # 1e-7 deg, 1 mm LSBs
    assert not any(f.hp for f in fixes)


def test_time_needs_no_timegps_when_pvt_has_a_date(rng):
    # NAV-PVT alone: the week comes from its UTC date + table leap seconds
    t = T0 + 123.4
    data = ubxgen.nav_pvt(t, 63.0, 10.0, 5.0).serialize()
    dec = gnss.UbxDecoder()
    fixes = dec.feed(data) + dec.finish()
    assert fixes[0].gps_time == pytest.approx(t, abs=1e-3)


# ---------------------------------------------------------------- real logs
@pytest.mark.parametrize("name,fixes,hp,truncated", [
    ("pygpsdata-MIXED.log", 39, 0, 0),
    ("pygpsdata-MIXED3.log", 3, 0, 0),
    ("pygpsdata-NAV-ZED-X20P.log", 2, 2, 0),
    ("pygpsdata-NAVHPPOS.log", 0, 0, 0),   # HP positions without NAV-PVT: no fix type
    ("pygpsdata-BADEOF1.log", 1, 0, 1),
    ("pygpsdata-MIXED-RTCM3BADCRC.log", 1, 0, 0),
])
def test_real_ublox_logs(name, fixes, hp, truncated):
    got, dec = gnss.read_ubx_file(data_file("ubx", name))
    assert len(got) == fixes
    assert dec.stats.hp_merged == hp
    assert dec.stats.truncated == truncated
    assert dec.stats.corrupt == 0


def test_real_log_times_match_the_receivers_utc_fields():
    # our GPS time minus the receiver's leap seconds is the UTC NAV-PVT states
    path = data_file("ubx", "pygpsdata-NAV-ZED-X20P.log")
    got, dec = gnss.read_ubx_file(path)
    assert dec.stats.leap_seconds == 18
    with open(path, "rb") as s:
        pvts = [p for _, p in UBXReader(s, protfilter=2) if p.identity == "NAV-PVT"]
    import calendar
    import datetime as dt
    for f, p in zip(got, pvts):
        utc = calendar.timegm(dt.datetime(p.year, p.month, p.day, p.hour, p.min,
                                          p.second).timetuple()) + p.nano * 1e-9
        assert timeutil.gps_to_utc(f.gps_time, 18) == pytest.approx(utc, abs=1e-3)


# ---------------------------------------------------------------- corruption
def test_corruption_is_counted_and_no_valid_fix_is_lost(rng):
    truth, _ = track_bytes(40, rng, nmea=False)
    epochs = [ubxgen.epoch(t, la, lo, h, hp=False, timegps=(i == 0))
              for i, (t, la, lo, h) in enumerate(truth)]
    damaged = {5: "flip", 11: "cut", 17: "flip", 30: "garbage"}
    data = b""
    for i, e in enumerate(epochs):
        kind = damaged.get(i)
        if kind == "flip":
            e = bytearray(e)
            e[len(e) // 2] ^= 0x5A  # checksum error
            e = bytes(e)
        elif kind == "cut":
            e = e[:40]  # frame cut short; the next frame's sync follows
        elif kind == "garbage":
            data += bytes(rng.integers(0, 256, 200, dtype=np.uint8)).replace(b"\xb5\x62", b"")
        data += e
    data += epochs[0][:30]  # a truncated frame at the end of the log
    dec = gnss.UbxDecoder()
    fixes = dec.feed(data) + dec.finish()
    lost = {5, 11, 17}
    want = [tr for i, tr in enumerate(truth) if i not in lost]
    check_fixes(fixes, want, atol_deg=6e-8, atol_m=6e-4)
    assert dec.stats.corrupt >= 3
    assert dec.stats.truncated == 1


def test_truncated_and_corrupt_logs_from_the_cli_are_one_line_summaries(tmp_path):
    out = tmp_path / "b.csv"
    p = run_cli("gnss", "convert", data_file("ubx", "pygpsdata-BADEOF1.log"), "--out", out)
    assert p.returncode == 0, p.stderr
    assert "1 truncated" in p.stdout
    assert out.read_text().count("\n") == 2  # header + the one fix


def test_a_log_without_a_fix_is_a_clear_error_at_processing_time(tmp_path, rng):
    data = b"".join(ubxgen.epoch(T0 + i, 0.0, 0.0, 0.0, fix_type=0, carr_soln=0)
                    for i in range(5))
    p = tmp_path / "nofix.ubx"
    p.write_bytes(data)
    fixes, _ = gnss.read_ubx_file(p)
    assert len(fixes) == 5
    with pytest.raises(UserError, match="none with a position fix"):
        gnss.require_fixes(fixes, str(p))
    with pytest.raises(UserError, match="no NAV-PVT fix"):
        gnss.require_fixes([], "x.ubx")
    assert_one_line_error(run_cli("gnss", "convert", tmp_path / "missing.ubx", "--out",
                                  tmp_path / "x.csv"), "not found")


# ---------------------------------------------------------------- leap seconds
def test_utc_recording_and_gpst_log_line_up_exactly():
    # a SigMF capture stamped in UTC and a UBX log in GPS time: the same instant
    utc = timeutil.parse_utc("2026-06-01T12:00:00.250Z")
    fix_time = ubxgen.nav_pvt(timeutil.utc_to_gps(utc), 63, 10, 5)
    dec = gnss.UbxDecoder()
    f = (dec.feed(ubxgen.nav_timegps(timeutil.utc_to_gps(utc)).serialize() +
                  fix_time.serialize()) + dec.finish())[0]
    assert f.gps_time - utc == 18.0           # the thesis was off by exactly this
    assert timeutil.gps_to_utc(f.gps_time) == utc
    # the table agrees with the receiver, and history is right
    assert timeutil.leap_seconds_at_utc(utc) == 18
    assert timeutil.leap_seconds_at_utc(timeutil.parse_utc("2016-12-31T23:59:59Z")) == 17
    assert timeutil.leap_seconds_at_utc(timeutil.parse_utc("1980-01-06T00:00:00Z")) == 0
    with pytest.raises(ValueError, match="time zone"):
        timeutil.parse_utc("2026-06-01T12:00:00")


def test_usrp_time_sync_offsets_and_tim_tp():
    assert timeutil.time_offset_for("gps_time") == 0.0
    assert timeutil.time_offset_for("pc_clock") == 18.0
    assert timeutil.time_offset_for("pc_clock_next_pps") == 18.0
    with pytest.raises(ValueError):
        timeutil.time_offset_for("bogus")
    nxt = T0 + 7.0
    msg = UBXReader.parse(ubxgen.tim_tp(nxt).serialize())
    assert timeutil.next_pps_from_tim_tp(msg) == pytest.approx(nxt, abs=1e-6)


# ---------------------------------------------------------------- config
def test_thesis_zed_f9p_configuration_parses_into_the_expected_keys():
    values = ubxconfig.read_ucenter(data_file("thesis", "GNSS_Configuration.txt"))
    named = {ubxconfig.key_name(k): ubxconfig.decoded_value(k, v) for k, v in values.items()}
    assert len(values) == 1155
    assert named["CFG_RATE_MEAS"] == 200                 # 5 Hz navigation
    assert named["CFG_MSGOUT_UBX_NAV_PVT_USB"] == 1
    assert named["CFG_MSGOUT_UBX_TIM_TP_USB"] == 1
    assert named["CFG_MSGOUT_UBX_NAV_HPPOSLLH_USB"] == 0
    assert named["CFG_NAVSPG_DYNMODEL"] == 8             # airborne < 4 g
    assert named["CFG_UART1_BAUDRATE"] == 921600
    assert named["CFG_TP_PERIOD_TP1"] == 1000000         # 1 PPS
    # VALSET frames carry every pair byte for byte and decode as CFG-VALSET
    frames = ubxconfig.valset_frames(values, ["ram", "flash"])
    assert len(frames) == (1155 + 63) // 64
    pairs = {}
    for fr in frames:
        msg = UBXReader.parse(fr, msgmode=1)
        assert msg.identity == "CFG-VALSET"
        assert (msg.ram, msg.bbr, msg.flash) == (1, 0, 1)
        pairs.update(ubxconfig.parse_valget_payload(fr[6:-2], "frame"))
    assert pairs == values


def test_config_dry_run_and_bad_files(tmp_path):
    p = run_cli("gnss", "config", data_file("thesis", "GNSS_Configuration.txt"), "--dry-run")
    assert p.returncode == 0
    assert "1155 keys in 19 CFG-VALSET messages" in p.stdout
    assert "CFG-RATE-MEAS (0x30210001, U2) = 200" in p.stdout
    bad = tmp_path / "bad.txt"
    bad.write_text("CFG-VALGET - 06 8B 10 00 01 00 00 00\n")
    assert_one_line_error(run_cli("gnss", "config", bad, "--dry-run"), "bad.txt:1", "length")
    assert_one_line_error(run_cli("gnss", "config", tmp_path / "none.txt", "--dry-run"),
                          "not found")


def test_config_applies_over_a_serial_line_and_reads_the_acks():
    # a pty stands in for the receiver: it acknowledges every CFG-VALSET
    master, slave = pty.openpty()
    values = ubxconfig.read_ucenter(data_file("thesis", "GNSS_Configuration.txt"))
    frames = ubxconfig.valset_frames(values)
    got = []

    def receiver():
        framer = gnss.UbxFramer()
        n = 0
        while n < len(frames):
            for _, raw in framer.feed(os.read(master, 4096)):
                got.append(raw)
                nak = n == 3
                os.write(master, gnss.ubx_frame(0x05, 0x00 if nak else 0x01, b"\x06\x8a"))
                n += 1

    th = threading.Thread(target=receiver, daemon=True)
    th.start()
    dev = gnsslog.open_port(os.ttyname(slave), 38400)
    results = ubxconfig.apply(dev, frames)
    th.join(timeout=10)
    dev.close()
    os.close(master)
    assert got == frames
    assert [r for _, r in results].count("ack") == len(frames) - 1
    assert results[3][1] == "nak"


# ---------------------------------------------------------------- logger
def test_logger_records_everything_and_survives_unplug(tmp_path, rng):
    link = tmp_path / "ttyGNSS"
    _, data = track_bytes(30, rng)
    half = len(data) // 2
    ptys = []

    def plug():
        m, s = pty.openpty()
        ptys.append((m, s))
        tmp = tmp_path / "link.tmp"
        os.symlink(os.ttyname(s), tmp)
        os.replace(tmp, link)  # the device node reappears under the same name
        return m

    m1 = plug()
    stop = threading.Event()
    got_bytes = threading.Condition()
    seen = {"bytes": 0, "reading": 0}

    def on_data(lg):
        with got_bytes:
            seen["bytes"] = lg.bytes
            got_bytes.notify_all()

    def status(msg):
        with got_bytes:
            if msg.startswith("reading"):
                seen["reading"] += 1
            got_bytes.notify_all()

    result = {}
    th = threading.Thread(target=lambda: result.setdefault("lg", gnsslog.run(
        str(link), 38400, str(tmp_path / "logs"), "tx", stop, status=status,
        on_data=on_data, retry_period=0.05)), daemon=True)
    th.start()

    def wait_for(cond):
        with got_bytes:
            assert got_bytes.wait_for(cond, timeout=20)

    wait_for(lambda: seen["reading"] >= 1)
    os.write(m1, data[:half])
    wait_for(lambda: seen["bytes"] >= half)
    # unplug: the device goes away, then comes back as a new node
    os.close(m1)
    m2 = plug()
    wait_for(lambda: seen["reading"] >= 2)
    os.write(m2, data[half:])
    wait_for(lambda: seen["bytes"] >= len(data))
    stop.set()
    th.join(timeout=20)
    lg = result["lg"]
    assert lg.reconnects >= 1
    assert open(lg.path, "rb").read() == data  # byte for byte, both halves
    rows = [r.split(",") for r in open(lg.idx_path).read().splitlines()[1:]]
    assert len(rows) == lg.decoder.stats.frames == 30 * 3
    offsets = [int(r[0]) for r in rows]
    assert offsets == sorted(offsets) and offsets[0] == 0
    times = [float(r[2]) for r in rows]
    assert times == sorted(times)
    # the log reads back with host times
    fixes, dec = gnss.read_ubx_file(lg.path, "tx")
    assert len(fixes) == 30 and all(f.host_time is not None for f in fixes)
    for m, s in ptys[1:]:
        os.close(m)


def test_cli_gnss_log_with_duration(tmp_path, rng):
    m, s = pty.openpty()
    _, data = track_bytes(10, rng)
    proc = subprocess.Popen([ARRAYCAL, "gnss", "log", "--port", os.ttyname(s), "--out",
                             str(tmp_path), "--role", "tx", "--duration", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert "reading" in first
    os.write(m, data)
    out, err = proc.communicate(timeout=30)
    os.close(m)
    assert proc.returncode == 0, err
    ubx = [p for p in tmp_path.iterdir() if p.suffix == ".ubx"]
    assert len(ubx) == 1 and ubx[0].name.startswith("gnss-tx-")
    assert ubx[0].read_bytes() == data
    assert "10 fixes" in out


# ---------------------------------------------------------------- GR source
def test_gnss_source_block_publishes_fixes(tmp_path, rng):
    truth, data = track_bytes(12, rng)
    f = tmp_path / "tx.ubx"
    f.write_bytes(data)
    tb = gr.top_block()
    src = arraycal.gnss_source(str(f), "tx")
    sink = MessageCollector(expect=12)
    tb.msg_connect(src, "gnss", sink, "in")
    tb.start()
    # message blocks never end a flowgraph: wait for what is expected, then stop
    assert sink.enough.wait(20)
    tb.stop()
    tb.wait()
    msgs = sink.messages
    assert len(msgs) == 12
    for m, (t, lat, lon, h) in zip(msgs, truth):
        assert m["gps_time"] == pytest.approx(t, abs=1e-3)
        assert m["lat"] == pytest.approx(lat, abs=1e-9)
        assert m["height"] == pytest.approx(h, abs=1e-4)
        assert m["role"] == "tx" and m["carr_soln"] == 2 and m["fix_type"] == 3
        assert set(m) == {"gps_time", "lat", "lon", "height", "fix_type", "carr_soln",
                          "h_acc", "v_acc", "num_sv", "role"}


# ---------------------------------------------------------------- RTKLIB
POS_GPST = """% program   : RTKPOST ver.2.4.3 b34
% inp file  : rover.obs
% pos mode  : Kinematic
%
% (lat/lon/height=WGS84/ellipsoidal,Q=1:fix,2:float,3:sbas,4:dgps,5:single,6:ppp,ns=# of satellites)
%  GPST                  latitude(deg) longitude(deg)  height(m)   Q  ns   sdn(m)   sde(m)   sdu(m)  sdne(m)  sdeu(m)  sdun(m) age(s)  ratio
2026/06/01 12:00:18.000   63.418123456   10.401234567    45.1234   1  14   0.0030   0.0040   0.0080  -0.0010   0.0005  -0.0020   1.00   12.3
2026/06/01 12:00:18.200   63.418123556   10.401234667    45.1244   2  13   0.0300   0.0400   0.0800  -0.0010   0.0005  -0.0020   1.20    2.1
"""


def test_rtklib_pos_gpst_utc_and_ecef(tmp_path):
    p = tmp_path / "rover.pos"
    p.write_text(POS_GPST)
    f = rtklib.read_pos(p, "tx")
    assert len(f) == 2
    assert f[0].gps_time == timeutil.parse_utc("2026-06-01T12:00:18Z")  # GPST read as is
    assert (f[0].lat, f[0].lon, f[0].height) == (63.418123456, 10.401234567, 45.1234)
    assert (f[0].carr_soln, f[1].carr_soln) == (2, 1) and f[0].num_sv == 14
    assert f[0].h_acc == pytest.approx(0.005) and f[0].v_acc == pytest.approx(0.008)
    # the same solution with UTC times is 18 s earlier on the clock, same instant
    pu = tmp_path / "utc.pos"
    pu.write_text(POS_GPST.replace("%  GPST   ", "%  UTC    ").replace("12:00:18", "12:00:00"))
    assert rtklib.read_pos(pu)[0].gps_time == f[0].gps_time
    # ECEF output
    import pymap3d
    x, y, z = pymap3d.geodetic2ecef(63.418123456, 10.401234567, 45.1234)
    pe = tmp_path / "ecef.pos"
    pe.write_text("%  GPST                  x-ecef(m)      y-ecef(m)      z-ecef(m)   Q  ns   "
                  "sdx(m)   sdy(m)   sdz(m)\n"
                  f"2026/06/01 12:00:18.000 {x:.4f} {y:.4f} {z:.4f} 1 10 0.01 0.01 0.02\n")
    e = rtklib.read_pos(pe)[0]
    assert e.lat == pytest.approx(63.418123456, abs=1e-8)
    assert e.height == pytest.approx(45.1234, abs=1e-3)
    bad = tmp_path / "bad.pos"
    bad.write_text("hello\n")
    with pytest.raises(UserError, match="not an RTKLIB"):
        rtklib.read_pos(bad)
