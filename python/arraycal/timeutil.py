#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""GPS and UTC time.

Times are float seconds since 1970-01-01 in the stated timescale:
  utc   the Unix time of the host and of SigMF's core:datetime,
  gps   the GPS timescale counted the same way: gps = utc + leap seconds
        (18 s since 2017-01-01), i.e. 315964800 + GPS week * 604800 + TOW.
The leap-second count comes from the receiver (NAV-TIMEGPS, NAV-TIMELS)
when it has said so; otherwise from the system's IERS list
(/usr/share/zoneinfo/leap-seconds.list, Debian package tzdata, kept up to
date by the system's updates) when present; else from the built-in table
below (a new leap second would be announced six months ahead; none is
scheduled).
"""

import calendar
import datetime as _dt
import os

GPS_EPOCH_UNIX = 315964800  # 1980-01-06T00:00:00Z
SECONDS_PER_WEEK = 604800

# UTC instants at which GPS - UTC stepped to the given value (IERS bulletins)
LEAP_SECONDS = [
    ("1981-07-01", 1), ("1982-07-01", 2), ("1983-07-01", 3), ("1985-07-01", 4),
    ("1988-01-01", 5), ("1990-01-01", 6), ("1991-01-01", 7), ("1992-07-01", 8),
    ("1993-07-01", 9), ("1994-07-01", 10), ("1996-01-01", 11), ("1997-07-01", 12),
    ("1999-01-01", 13), ("2006-01-01", 14), ("2009-01-01", 15), ("2012-07-01", 16),
    ("2015-07-01", 17), ("2017-01-01", 18),
]
BUILTIN_LEAP_TABLE = [(calendar.timegm(_dt.date.fromisoformat(d).timetuple()), n)
                      for d, n in LEAP_SECONDS]
DEFAULT_LEAP_SECONDS = 18
SYSTEM_LEAP_SECONDS_LIST = "/usr/share/zoneinfo/leap-seconds.list"
NTP_EPOCH_UNIX = -2208988800  # 1900-01-01T00:00:00Z
TAI_MINUS_GPS = 19


def parse_leap_seconds_list(text):
    """[(UTC instant, GPS - UTC)] from the IERS/NIST leap-seconds.list format.

    Data lines are 'NTP_SECONDS TAI-UTC [# date]' (NTP seconds since 1900);
    GPS - UTC = TAI - UTC - 19. Returns None when the text has no usable entry
    or its entries do not increase (a damaged file: the caller falls back)."""
    table = []
    for line in text.splitlines():
        body = line.split("#", 1)[0].split()
        if len(body) < 2:
            continue
        try:
            ntp, tai_utc = int(body[0]), int(body[1])
        except ValueError:
            return None
        gps_utc = tai_utc - TAI_MINUS_GPS
        if gps_utc >= 1:
            table.append((ntp + NTP_EPOCH_UNIX, gps_utc))
    if not table or any(b[0] <= a[0] or b[1] != a[1] + 1 for a, b in zip(table, table[1:])):
        return None
    return table


def load_leap_seconds(path=SYSTEM_LEAP_SECONDS_LIST):
    """Use the leap-seconds list at `path` when readable and sound, else the built-in
    table. Returns the source now in use ('path' or 'built-in table')."""
    global _LEAP_TABLE, LEAP_SOURCE
    table = None
    if path and os.path.isfile(path):
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                table = parse_leap_seconds_list(f.read())
        except OSError:
            table = None
    if table and table[-1][1] >= BUILTIN_LEAP_TABLE[-1][1]:
        _LEAP_TABLE, LEAP_SOURCE = table, path
    else:
        _LEAP_TABLE, LEAP_SOURCE = BUILTIN_LEAP_TABLE, "built-in table"
    return LEAP_SOURCE


_LEAP_TABLE, LEAP_SOURCE = BUILTIN_LEAP_TABLE, "built-in table"
load_leap_seconds()


def leap_seconds_at_utc(utc):
    """GPS - UTC (s) at a UTC instant, from the system's list or the built-in table."""
    n = 0
    for t, v in _LEAP_TABLE:
        if utc >= t:
            n = v
    return n


def utc_to_gps(utc, leap=None):
    """UTC seconds -> GPS-timescale seconds (leap from the receiver if given)."""
    return utc + (leap_seconds_at_utc(utc) if leap is None else leap)


def gps_to_utc(gps, leap=None):
    """GPS-timescale seconds -> UTC seconds."""
    if leap is None:
        # the table is in UTC; one step is enough except inside a leap second
        leap = leap_seconds_at_utc(gps - leap_seconds_at_utc(gps))
    return gps - leap


def gps_from_week_tow(week, tow_s):
    return GPS_EPOCH_UNIX + week * SECONDS_PER_WEEK + tow_s


def week_tow(gps):
    s = gps - GPS_EPOCH_UNIX
    week = int(s // SECONDS_PER_WEEK)
    return week, s - week * SECONDS_PER_WEEK


def resolve_week(tow_s, approx_gps):
    """The GPS week in which time-of-week tow_s lies closest to approx_gps."""
    week, _ = week_tow(approx_gps)
    best = min((week - 1, week, week + 1),
               key=lambda w: abs(gps_from_week_tow(w, tow_s) - approx_gps))
    return best


def parse_utc(text):
    """ISO 8601 UTC ('2026-11-24T10:00:00.5Z' or with +00:00) -> UTC seconds."""
    t = str(text).strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    d = _dt.datetime.fromisoformat(t)
    if d.tzinfo is None:
        raise ValueError(f"time '{text}' has no time zone; SigMF core:datetime is UTC with a Z")
    d = d.astimezone(_dt.timezone.utc)
    return calendar.timegm(d.timetuple()) + d.microsecond * 1e-6


def format_utc(utc):
    d = _dt.datetime.fromtimestamp(utc, _dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


# ---- USRP time from GNSS (the GRC USRP blocks' "Sync" choices) -------------
SYNC_MODES = ("gps_time", "pc_clock", "pc_clock_next_pps", "none")


def time_offset_for(sync, leap=DEFAULT_LEAP_SECONDS):
    """GPS - rx_time (s) that zc_sync must add, for a USRP synchronised by `sync`.

    gps_time: the USRP time was set to GPS time at a PPS edge (TIM-TP), 0.
    pc_clock, pc_clock_next_pps: set from the host's UTC clock, + leap.
    none: the USRP counts from power-up; 0, and absolute times are meaningless.
    """
    if sync not in SYNC_MODES:
        raise ValueError(f"unknown time sync '{sync}': use one of {', '.join(SYNC_MODES)}")
    return 0.0 if sync in ("gps_time", "none") else float(leap)


def next_pps_from_tim_tp(tim_tp, leap=None):
    """GPS-timescale seconds of the next time pulse announced by a UBX TIM-TP.

    TIM-TP carries the time of the NEXT pulse: towMS + towSubMS in the
    timescale its flags name (GNSS time base, or UTC).
    """
    tow = tim_tp.towMS / 1000.0 + float(getattr(tim_tp, "towSubMS", 0.0)) / 1000.0
    t = gps_from_week_tow(tim_tp.week, tow)
    if getattr(tim_tp, "timeBase", 0) == 1:
        # flags.timeBase: 0 GNSS time, 1 UTC (flags.utc only says UTC is known)
        t = utc_to_gps(t, leap)
    return t


def sync_usrp_time(usrp, sync, next_pps_gps=None, host_utc=None):
    """Set a gr-uhd usrp_source/sink time the way GRC's Sync option would.

    gps_time needs next_pps_gps (from next_pps_from_tim_tp) and the GNSS
    receiver's PPS wired to the USRP's PPS input (time_source=external).
    Returns the GPS - rx_time offset for zc_sync.
    """
    import time as _time
    from gnuradio import uhd
    if sync == "gps_time":
        if next_pps_gps is None:
            raise ValueError("gps_time sync needs the next pulse's time (TIM-TP)")
        usrp.set_time_next_pps(uhd.time_spec(float(next_pps_gps)))
    elif sync == "pc_clock":
        usrp.set_time_now(uhd.time_spec(host_utc if host_utc is not None else _time.time()))
    elif sync == "pc_clock_next_pps":
        now = host_utc if host_utc is not None else _time.time()
        usrp.set_time_next_pps(uhd.time_spec(float(int(now) + 1)))
    elif sync == "none":
        pass
    return time_offset_for(sync)
