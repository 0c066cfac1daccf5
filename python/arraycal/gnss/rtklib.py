#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""RTKLIB solution files (.pos from rnx2rtkp / RTKPOST), as the thesis post-processed.

Header lines start with '%'; the last one names the columns, e.g.
  %  GPST                  latitude(deg) longitude(deg)  height(m)   Q  ns   sdn(m) ...
Time is GPST or UTC (column name), as 'YYYY/MM/DD HH:MM:SS.sss' or
'WEEK TOW'. Positions as latitude/longitude in degrees or d m s, or ECEF
x/y/z. Q: 1 fix, 2 float, 3 SBAS, 4 DGPS, 5 single, 6 PPP.
"""

import calendar
import datetime as dt
import math
import os

from .. import timeutil
from ..errors import UserError
from .ubx import Fix

Q_NAMES = {1: "fix", 2: "float", 3: "sbas", 4: "dgps", 5: "single", 6: "ppp"}


def _time(fields, timescale, week_tow, leap):
    if week_tow:
        t = timeutil.gps_from_week_tow(int(fields[0]), float(fields[1]))
        return t, 2
    d = dt.datetime.strptime(fields[0] + " " + fields[1].split(".")[0], "%Y/%m/%d %H:%M:%S")
    frac = float("0." + fields[1].split(".")[1]) if "." in fields[1] else 0.0
    t = calendar.timegm(d.timetuple()) + frac
    if timescale == "UTC":
        t = timeutil.utc_to_gps(t, leap)
    return t, 2


def _dms(fields, i):
    d, m, s = float(fields[i]), float(fields[i + 1]), float(fields[i + 2])
    sign = -1.0 if fields[i].startswith("-") else 1.0
    return sign * (abs(d) + m / 60.0 + s / 3600.0)


def read_pos(path, role="", leap=None):
    """Fixes from an RTKLIB .pos file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"RTKLIB file '{path}' not found")
    header = None
    fixes = []
    with open(path, encoding="ascii", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if line.startswith("%"):
                if "latitude" in line or "x-ecef" in line:
                    header = line
                continue
            if not line.strip():
                continue
            if header is None:
                raise UserError(f"{path}:{lineno}: data before the '%' column header line; "
                                "not an RTKLIB .pos file")
            fields = line.split()
            try:
                fixes.append(_row(fields, header, role, leap))
            except (ValueError, IndexError):
                raise UserError(f"{path}:{lineno}: cannot read this solution line") from None
    if header is None:
        raise UserError(f"{path}: no column header (% ... latitude/x-ecef ...); "
                        "not an RTKLIB .pos file")
    return fixes


def _row(fields, header, role, leap):
    timescale = "UTC" if "UTC" in header else "GPST"
    week_tow = "GPST" in header and "/" not in fields[0]
    t, n = _time(fields, timescale, week_tow, leap)
    rest = fields[n:]
    if "x-ecef" in header:
        import pymap3d
        lat, lon, h = pymap3d.ecef2geodetic(float(rest[0]), float(rest[1]), float(rest[2]))
        k = 3
    elif "(d'\")" in header or "(dms)" in header:
        lat, lon = _dms(rest, 0), _dms(rest, 3)
        h = float(rest[6])
        k = 7
    else:
        lat, lon, h = float(rest[0]), float(rest[1]), float(rest[2])
        k = 3
    q, ns = int(rest[k]), int(rest[k + 1])
    sdn, sde, sdu = float(rest[k + 2]), float(rest[k + 3]), float(rest[k + 4])
    return Fix(gps_time=t, lat=float(lat), lon=float(lon), height=float(h),
               fix_type=3 if q in Q_NAMES else 0,
               carr_soln={1: 2, 2: 1}.get(q, 0), h_acc=math.hypot(sdn, sde), v_acc=sdu,
               num_sv=ns, role=role, gnss_fix_ok=q in Q_NAMES, hp=True)
