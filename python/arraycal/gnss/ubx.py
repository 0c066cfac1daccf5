#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""u-blox GNSS: UBX framing, fixes, logs.

A fix is NAV-PVT (fix type, carrier solution, accuracies, satellites) merged
with NAV-HPPOSLLH of the same epoch (iTOW) when the receiver sends it. Its
time is the epoch's GPS time: 315964800 + week * 604800 + iTOW, the week
from NAV-TIMEGPS or, failing that, from NAV-PVT's UTC date and the leap
seconds (NAV-TIMEGPS / NAV-TIMELS, else the table in timeutil).

Logs are raw UBX (as the receiver sent it, NMEA and RTCM included) so that
u-center and pyubx2 read them; `arraycal gnss log` writes the host time at
which each frame arrived in a sidecar FILE.idx (CSV: offset, length,
host_time, identity).
"""

import csv
import os
from dataclasses import dataclass, asdict

from pyubx2 import UBXReader

from .. import timeutil
from ..errors import UserError

SYNC = b"\xb5\x62"
MAX_PAYLOAD = 8192  # larger lengths are corrupt headers


def ubx_checksum(body):
    """8-bit Fletcher over class, id, length and payload."""
    a = b = 0
    for x in body:
        a = (a + x) & 0xFF
        b = (b + a) & 0xFF
    return bytes((a, b))


def ubx_frame(cls, msg_id, payload):
    body = bytes((cls, msg_id)) + len(payload).to_bytes(2, "little") + bytes(payload)
    return SYNC + body + ubx_checksum(body)


@dataclass
class UbxStats:
    frames: int = 0          # valid UBX frames
    corrupt: int = 0         # sync and length found, checksum wrong
    truncated: int = 0       # a frame cut off by the end of the data
    other_bytes: int = 0     # bytes of other protocols (NMEA, RTCM3) or noise
    unparsed: int = 0        # valid frames pyubx2 could not decode
    fixes: int = 0           # fixes assembled
    hp_merged: int = 0       # ... with NAV-HPPOSLLH precision
    no_time: int = 0         # NAV-PVT epochs without a usable time
    leap_seconds: int = None
    leap_source: str = ""     # NAV-TIMEGPS, NAV-TIMELS, else timeutil.LEAP_SOURCE

    def __post_init__(self):
        if not self.leap_source:
            self.leap_source = timeutil.LEAP_SOURCE

    def summary(self):
        s = (f"{self.frames} UBX frames, {self.fixes} fixes ({self.hp_merged} high-precision)")
        bad = []
        if self.corrupt:
            bad.append(f"{self.corrupt} corrupt")
        if self.truncated:
            bad.append(f"{self.truncated} truncated")
        if self.unparsed:
            bad.append(f"{self.unparsed} undecodable")
        if self.no_time:
            bad.append(f"{self.no_time} without time")
        return s + (f"; skipped {', '.join(bad)} frames" if bad else "")


class UbxFramer:
    """Cuts valid UBX frames out of a byte stream, counting what it skips.

    A corrupt frame drops only its two sync bytes, so a valid frame starting
    inside it is still found; bytes between frames (NMEA, RTCM3) are counted
    as other_bytes, not as errors.
    """

    def __init__(self, stats=None):
        self.stats = stats or UbxStats()
        self._buf = bytearray()
        self.offset = 0  # stream offset of _buf[0]

    def feed(self, data):
        """Add bytes; return [(stream_offset, frame_bytes)] of the complete valid frames."""
        self._buf += data
        out = []
        buf = self._buf
        pos = 0
        while True:
            i = buf.find(SYNC, pos)
            if i < 0:
                # keep a trailing 0xB5 that may start the next sync
                keep = 1 if buf.endswith(b"\xb5") else 0
                self.stats.other_bytes += len(buf) - pos - keep
                pos = len(buf) - keep
                break
            self.stats.other_bytes += i - pos
            if len(buf) - i < 6:
                pos = i
                break
            length = int.from_bytes(buf[i + 4:i + 6], "little")
            if length > MAX_PAYLOAD:
                self.stats.corrupt += 1
                pos = i + 2
                continue
            end = i + 6 + length + 2
            if len(buf) < end:
                pos = i
                break
            body = bytes(buf[i + 2:i + 6 + length])
            if ubx_checksum(body) == bytes(buf[end - 2:end]):
                self.stats.frames += 1
                out.append((self.offset + i, bytes(buf[i:end])))
                pos = end
            else:
                self.stats.corrupt += 1
                pos = i + 2
        del buf[:pos]
        self.offset += pos
        return out

    def finish(self):
        """End of data: a frame still being waited for was truncated."""
        if self._buf.startswith(SYNC):
            self.stats.truncated += 1
        elif self._buf:
            self.stats.other_bytes += len(self._buf)
        self._buf = bytearray()


@dataclass
class Fix:
    gps_time: float           # GPS timescale, s since 1970 (see timeutil)
    lat: float                # deg
    lon: float                # deg
    height: float             # m above the ellipsoid
    fix_type: int             # 0 none, 1 DR, 2 2D, 3 3D, 4 GNSS+DR, 5 time only
    carr_soln: int            # 0 none, 1 float, 2 fixed (RTK)
    h_acc: float              # m
    v_acc: float              # m
    num_sv: int
    role: str = ""            # tx | rx
    gnss_fix_ok: bool = True
    hp: bool = False          # NAV-HPPOSLLH precision
    host_time: float = None   # host UTC when the frame arrived (logger sidecar)

    def message(self):
        """The GNSS message of docs/design.md as a plain dict."""
        return {"gps_time": self.gps_time, "lat": self.lat, "lon": self.lon,
                "height": self.height, "fix_type": self.fix_type,
                "carr_soln": self.carr_soln, "h_acc": self.h_acc, "v_acc": self.v_acc,
                "num_sv": self.num_sv, "role": self.role}


EPOCH_MESSAGES = ("NAV-PVT", "NAV-HPPOSLLH", "NAV-SOL", "NAV-POSLLH", "NAV-STATUS")


class FixAssembler:
    """Turns decoded UBX messages into Fix records, one per navigation epoch.

    An epoch is the messages of one iTOW. NAV-PVT (+ NAV-HPPOSLLH) makes the
    fix when present; without it (older u-blox 8 logs) NAV-POSLLH gives the
    position and NAV-SOL or NAV-STATUS the fix type, or NAV-SOL alone both
    (its ECEF position). The GPS week comes from NAV-TIMEGPS or NAV-SOL (the
    week in which the epoch's time of week lies closest to theirs, so a week
    rollover between them is handled), else from NAV-PVT's UTC date.
    """

    def __init__(self, role="", stats=None):
        self.role = role
        self.stats = stats or UbxStats()
        self.leap = None
        self.week = None
        self._week_ref = None  # GPS time of the last message that carried a week
        self._itow = None
        self._msgs = {}
        self._host = None
        self.tim_tp = []  # (host_time, message) of every TIM-TP
        self.seen = {}    # identity -> count, for the "why no fix" hint

    def add(self, msg, host_time=None):
        ident = getattr(msg, "identity", "")
        self.seen[ident] = self.seen.get(ident, 0) + 1
        if ident == "NAV-TIMEGPS":
            if getattr(msg, "leapSValid", 0):
                self._set_leap(msg.leapS, "NAV-TIMEGPS")
            if getattr(msg, "weekValid", 0):
                self._set_week(msg.week, msg.iTOW)
            return []
        if ident == "NAV-TIMELS":
            if getattr(msg, "validCurrLs", 0):
                self._set_leap(msg.currLs, "NAV-TIMELS")
            return []
        if ident == "TIM-TP":
            self.tim_tp.append((host_time, msg))
            return []
        if ident not in EPOCH_MESSAGES:
            return []
        out = []
        if self._itow is not None and msg.iTOW != self._itow:
            out += self._complete()
        self._itow = msg.iTOW
        if ident == "NAV-SOL" and getattr(msg, "wknSet", 0):
            self._set_week(msg.week, msg.iTOW)
        self._msgs[ident] = msg
        if self._host is None or ident == "NAV-PVT":
            self._host = host_time
        return out

    def flush(self):
        return self._complete()

    def _set_leap(self, value, source):
        self.leap = int(value)
        self.stats.leap_seconds = self.leap
        self.stats.leap_source = source

    def _set_week(self, week, itow):
        self.week = int(week)
        self._week_ref = timeutil.gps_from_week_tow(int(week), itow / 1000.0)

    def _week_for(self, tow, pvt):
        if self._week_ref is not None:
            return timeutil.resolve_week(tow, self._week_ref)
        if pvt is None or not (getattr(pvt, "validDate", 0) and getattr(pvt, "validTime", 0)):
            return None
        import calendar
        import datetime as dt
        try:
            utc = calendar.timegm(dt.datetime(pvt.year, pvt.month, pvt.day, pvt.hour,
                                              pvt.min, pvt.second).timetuple())
        except ValueError:  # a date the receiver flagged valid but is not
            return None
        utc += pvt.nano * 1e-9
        return timeutil.resolve_week(tow, timeutil.utc_to_gps(utc, self.leap))

    def _complete(self):
        m, host, itow = self._msgs, self._host, self._itow
        self._itow, self._msgs, self._host = None, {}, None
        if itow is None:
            return []
        pvt, hp = m.get("NAV-PVT"), m.get("NAV-HPPOSLLH")
        sol, posllh, status = m.get("NAV-SOL"), m.get("NAV-POSLLH"), m.get("NAV-STATUS")
        if pvt is None and sol is None and not (posllh is not None and status is not None):
            return []  # no fix type in this epoch (HP or POSLLH alone): no fix
        tow = itow / 1000.0
        week = self._week_for(tow, pvt)
        if week is None:
            self.stats.no_time += 1
            return []
        t = timeutil.gps_from_week_tow(week, tow)
        if pvt is not None:
            fix = Fix(gps_time=t, lat=float(pvt.lat), lon=float(pvt.lon),
                      height=pvt.height / 1000.0, fix_type=int(pvt.fixType),
                      carr_soln=int(pvt.carrSoln), h_acc=pvt.hAcc / 1000.0,
                      v_acc=pvt.vAcc / 1000.0, num_sv=int(pvt.numSV), role=self.role,
                      gnss_fix_ok=bool(getattr(pvt, "gnssFixOk", 1)), host_time=host)
            if hp is not None and not getattr(hp, "invalidLlh", 0):
                fix.lat, fix.lon = float(hp.lat), float(hp.lon)
                fix.height = float(hp.height) / 1000.0
                fix.h_acc, fix.v_acc = float(hp.hAcc) / 1000.0, float(hp.vAcc) / 1000.0
                fix.hp = True
                self.stats.hp_merged += 1
        else:
            fix = self._legacy_fix(t, sol, posllh, status, host)
        self.stats.fixes += 1
        return [fix]

    def _legacy_fix(self, t, sol, posllh, status, host):
        """A fix from the u-blox 8 messages: NAV-SOL and/or NAV-POSLLH (+ NAV-STATUS)."""
        kind = sol if sol is not None else status
        fix_type = int(kind.gpsFix)
        ok = bool(sol.gpsfixOK if sol is not None else status.gpsFixOk)
        num_sv = int(sol.numSV) if sol is not None else 0
        if posllh is not None:
            lat, lon = float(posllh.lat), float(posllh.lon)
            h = posllh.height / 1000.0
            h_acc, v_acc = posllh.hAcc / 1000.0, posllh.vAcc / 1000.0
        else:
            import pymap3d
            lat, lon, h = pymap3d.ecef2geodetic(sol.ecefX / 100.0, sol.ecefY / 100.0,
                                                sol.ecefZ / 100.0)
            lat, lon, h = float(lat), float(lon), float(h)
            h_acc = v_acc = sol.pAcc / 100.0  # 3D accuracy: an upper bound of both
        # NAV-STATUS (protocol 20+) says whether a carrier solution was used
        carr = int(getattr(status, "carrSoln", 0)) if status is not None else 0
        return Fix(gps_time=t, lat=lat, lon=lon, height=h, fix_type=fix_type, carr_soln=carr,
                   h_acc=h_acc, v_acc=v_acc, num_sv=num_sv, role=self.role, gnss_fix_ok=ok,
                   host_time=host)


def decode(raw):
    """pyubx2 decode of one valid frame, or None."""
    try:
        return UBXReader.parse(raw, validate=0)
    except Exception:  # pyubx2 raises several types for unknown/odd messages
        return None


class UbxDecoder:
    """Bytes in, fixes out: framer + pyubx2 + assembler, with one set of counters."""

    def __init__(self, role=""):
        self.stats = UbxStats()
        self.framer = UbxFramer(self.stats)
        self.assembler = FixAssembler(role, self.stats)

    def feed(self, data, host_time=None):
        fixes = []
        for _, raw in self.framer.feed(data):
            msg = decode(raw)
            if msg is None:
                self.stats.unparsed += 1
                continue
            fixes += self.assembler.add(msg, host_time)
        return fixes

    def finish(self):
        self.framer.finish()
        return self.assembler.flush()


def read_sidecar(path):
    """offset -> host_time from a logger's FILE.idx, {} if there is none."""
    idx = {}
    if not os.path.exists(path):
        return idx
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#") or row[0] == "offset":
                continue
            try:
                idx[int(row[0])] = float(row[2])
            except (ValueError, IndexError):
                continue  # a half-written last line after a power cut
    return idx


def read_ubx_file(path, role=""):
    """All fixes of a UBX log (bad bytes skipped and counted). Returns (fixes, decoder)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"GNSS log '{path}' not found")
    host = read_sidecar(path + ".idx")
    dec = UbxDecoder(role)
    fixes = []
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                break
            for off, raw in dec.framer.feed(chunk):
                msg = decode(raw)
                if msg is None:
                    dec.stats.unparsed += 1
                    continue
                fixes += dec.assembler.add(msg, host.get(off))
    dec.framer.finish()
    fixes += dec.assembler.flush()
    return fixes, dec


def require_fixes(fixes, source):
    """A calibration needs positions: no fix is an error, not an empty result."""
    usable = [f for f in fixes if f.fix_type in (2, 3, 4) and f.gnss_fix_ok]
    if not usable:
        what = f"{len(fixes)} epochs, none with a position fix" if fixes else "no NAV-PVT fix"
        raise UserError(f"{source}: {what}; a calibration needs the transmitter's positions")
    return usable


CSV_COLUMNS = ["gps_time", "utc", "lat", "lon", "height", "fix_type", "carr_soln", "h_acc",
               "v_acc", "num_sv", "hp", "role", "host_time"]


def write_csv(fixes, out):
    """One row per fix; columns documented in `arraycal gnss convert --help`."""
    from ..fileio import atomic_write_text
    import io
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for f in fixes:
        w.writerow([f"{f.gps_time:.3f}", timeutil.format_utc(timeutil.gps_to_utc(f.gps_time)),
                    f"{f.lat:.9f}", f"{f.lon:.9f}", f"{f.height:.4f}", f.fix_type,
                    f.carr_soln, f"{f.h_acc:.4f}", f"{f.v_acc:.4f}", f.num_sv, int(f.hp),
                    f.role, "" if f.host_time is None else f"{f.host_time:.6f}"])
    atomic_write_text(out, buf.getvalue())


def fix_from_dict(d):
    keys = {k: d[k] for k in Fix.__dataclass_fields__ if k in d}
    return Fix(**keys)


def fix_dict(f):
    return asdict(f)
