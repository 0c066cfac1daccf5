#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""RTKLIB solution files (.pos from rnx2rtkp / RTKPOST), as the thesis post-processed.

Header lines start with '%'; the last one names the columns, e.g.
  %  GPST                  latitude(deg) longitude(deg)  height(m)   Q  ns   sdn(m) ...
The first column names the time system: GPST, UTC or JST (UTC + 9 h, as
RTKLIB writes it), as 'YYYY/MM/DD HH:MM:SS.sss' or 'WEEK TOW' (the week and
time of week counted in that time system). UTC and JST become GPS time with
the leap seconds of timeutil (the system's list, else the built-in table).
Positions as latitude/longitude in degrees or d m s with ellipsoidal height,
or ECEF x/y/z. East/north/up baselines (rnx2rtkp -a) are relative to a base
and refused. Q: 1 fix, 2 float, 3 SBAS, 4 DGPS, 5 single, 6 PPP.
"""

import calendar
import datetime as dt
import math
import os

from .. import timeutil
from ..errors import UserError
from .ubx import Fix

Q_NAMES = {1: "fix", 2: "float", 3: "sbas", 4: "dgps", 5: "single", 6: "ppp"}
TIME_SYSTEMS = ("GPST", "UTC", "JST")
JST_MINUS_UTC = 9 * 3600
_HINT = ("export lat/lon/height or x/y/z-ECEF (rnx2rtkp without -a, or with -e; RTKPOST "
         "Options > Output > Solution Format)")


def looks_like_pos(head):
    """True when the first bytes of a file look like an RTKLIB solution file."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    text = head.decode("ascii", "replace").lstrip()
    return text.startswith("%") and any(f" {t} " in text or f"%  {t}" in text
                                        for t in TIME_SYSTEMS)


class _Columns:
    def __init__(self, header, path, lineno):
        cols = header[1:].split()
        where = f"{path}:{lineno}"
        if not cols or cols[0] not in TIME_SYSTEMS:
            raise UserError(f"{where}: column header without a time system (GPST, UTC, JST)")
        self.system = cols[0]
        if "e-baseline(m)" in header or "n-baseline(m)" in header:
            raise UserError(f"{where}: an RTKLIB east/north/up baseline solution "
                            "(e/n/u-baseline, relative to the base station), not positions; "
                            + _HINT)
        if "x-ecef(m)" in header:
            self.kind, self.npos = "ecef", 3
        elif "latitude(d'\")" in header or "latitude(dms)" in header:
            self.kind, self.npos = "dms", 7
        elif "latitude(deg)" in header:
            self.kind, self.npos = "deg", 3
        else:
            raise UserError(f"{where}: RTKLIB column header without latitude(deg), "
                            "latitude(d'\") or x-ecef(m) columns; " + _HINT)


def _finite(*vals):
    for v in vals:
        if not math.isfinite(v):
            raise ValueError("not finite")


def _time(fields, system):
    """(GPS-timescale seconds, number of fields used)."""
    if "/" in fields[0]:
        day = dt.datetime.strptime(fields[0], "%Y/%m/%d")
        hms = fields[1].split(":")
        if len(hms) != 3:
            raise ValueError("time")
        h, m, s = int(hms[0]), int(hms[1]), float(hms[2])
        if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
            raise ValueError("time")
        t = calendar.timegm(day.timetuple()) + h * 3600 + m * 60 + s
    else:
        week, tow = int(fields[0]), float(fields[1])
        _finite(tow)
        if not (0 <= week < 100000 and 0 <= tow < timeutil.SECONDS_PER_WEEK + 1):
            raise ValueError("week/tow")
        t = timeutil.gps_from_week_tow(week, tow)  # counted in `system`, not GPS, yet
    if system == "GPST":
        return t, 2
    if system == "JST":
        t -= JST_MINUS_UTC
    return timeutil.utc_to_gps(t), 2


def _dms(fields, i):
    d, m, s = float(fields[i]), float(fields[i + 1]), float(fields[i + 2])
    _finite(d, m, s)
    sign = -1.0 if fields[i].startswith("-") else 1.0
    return sign * (abs(d) + m / 60.0 + s / 3600.0)


def read_pos(path, role=""):
    """Fixes from an RTKLIB .pos file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"RTKLIB file '{path}' not found")
    cols = None
    fixes = []
    with open(path, encoding="ascii", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if lineno == 1 and line.startswith("\ufffd" * 3):  # a UTF-8 byte-order mark
                line = line[3:]
            if line.startswith("%"):
                if "height=WGS84/geodetic" in line:
                    raise UserError(f"{path}:{lineno}: heights above the geoid (geodetic); "
                                    "arraycal needs ellipsoidal heights (RTKPOST Output > "
                                    "Height: Ellipsoidal)")
                words = line[1:].split()
                if words and words[0] in TIME_SYSTEMS and len(words) > 3:
                    cols = _Columns(line, path, lineno)
                continue
            if not line.strip():
                continue
            if cols is None and line.lstrip().startswith("$G"):
                raise UserError(f"{path}:{lineno}: NMEA sentences, not an RTKLIB .pos solution "
                                "(RTKPOST Output > Solution Format: Lat/Lon/Height)")
            if cols is None:
                raise UserError(f"{path}:{lineno}: data before the '%' column header line; "
                                "not an RTKLIB .pos file")
            try:
                fixes.append(_row(line.split(), cols, role))
            except (ValueError, IndexError, OverflowError):
                raise UserError(f"{path}:{lineno}: cannot read this {cols.system} "
                                f"{cols.kind} solution line") from None
    if cols is None:
        raise UserError(f"{path}: no column header (%  GPST|UTC|JST ... latitude/x-ecef ...); "
                        "not an RTKLIB .pos file")
    return fixes


def _row(fields, cols, role):
    t, n = _time(fields, cols.system)
    rest = fields[n:]
    if cols.kind == "ecef":
        import pymap3d
        x, y, z = float(rest[0]), float(rest[1]), float(rest[2])
        _finite(x, y, z)
        if math.hypot(x, y, z) < 1e6:
            raise ValueError("ECEF position near the Earth's centre")
        lat, lon, h = pymap3d.ecef2geodetic(x, y, z)
    elif cols.kind == "dms":
        lat, lon = _dms(rest, 0), _dms(rest, 3)
        h = float(rest[6])
    else:
        lat, lon, h = float(rest[0]), float(rest[1]), float(rest[2])
    k = cols.npos
    q, ns = int(rest[k]), int(rest[k + 1])
    sdn, sde, sdu = float(rest[k + 2]), float(rest[k + 3]), float(rest[k + 4])
    lat, lon, h = float(lat), float(lon), float(h)
    _finite(lat, lon, h, sdn, sde, sdu)
    if not (-90 <= lat <= 90 and -180 <= lon <= 360 and ns >= 0):
        raise ValueError("position out of range")
    return Fix(gps_time=t, lat=lat, lon=lon, height=h,
               fix_type=3 if q in Q_NAMES else 0,
               carr_soln={1: 2, 2: 1}.get(q, 0), h_acc=math.hypot(sdn, sde), v_acc=abs(sdu),
               num_sv=ns, role=role, gnss_fix_ok=q in Q_NAMES, hp=True)
