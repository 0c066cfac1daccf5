#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Synthesise u-blox UBX messages (with pyubx2) for simulated campaigns.

The simulated transmitter and receiver produce the same messages a ZED-F9P
would (NAV-PVT, NAV-HPPOSLLH, NAV-TIMEGPS, TIM-TP), so that simulations run
the real GNSS path of the receiver.
"""

import datetime as dt
import math

from pyubx2 import UBXMessage

from .. import timeutil


def _scaled(count, scale):
    """Integer count of `scale` units as the float pyubx2 expects: it encodes
    int(value / scale), truncating, so nudge half a unit away from zero."""
    return (count + math.copysign(0.5, count)) * scale


def _split(value, units_per_main):
    """value (in the finest unit, rounded) -> (main, remainder) as UBX stores them:
    main in coarse units truncated toward zero, |remainder| < units_per_main."""
    total = int(round(value))
    main = int(math.trunc(total / units_per_main))
    return main, total - main * units_per_main


def nav_pvt(gps_time, lat, lon, height, fix_type=3, carr_soln=2, h_acc=0.014, v_acc=0.02,
            num_sv=20, leap=timeutil.DEFAULT_LEAP_SECONDS):
    week, tow = timeutil.week_tow(gps_time)
    itow = int(round(tow * 1000))
    utc = timeutil.gps_to_utc(gps_time, leap)
    d = dt.datetime.fromtimestamp(math.floor(utc), dt.timezone.utc)
    nano = int(round((utc - math.floor(utc)) * 1e9))
    return UBXMessage("NAV", "NAV-PVT", 0, iTOW=itow, year=d.year, month=d.month, day=d.day,
                      hour=d.hour, min=d.minute, second=d.second, validDate=1, validTime=1,
                      fullyResolved=1, tAcc=20, nano=nano, fixType=fix_type,
                      gnssFixOk=1 if fix_type in (2, 3, 4) else 0, carrSoln=carr_soln,
                      numSV=num_sv, lon=_scaled(round(lon * 1e7), 1e-7),
                      lat=_scaled(round(lat * 1e7), 1e-7),
                      height=int(round(height * 1000)), hMSL=int(round(height * 1000)),
                      hAcc=int(round(h_acc * 1000)), vAcc=int(round(v_acc * 1000)))


def nav_hpposllh(gps_time, lat, lon, height, h_acc=0.014, v_acc=0.02):
    _, tow = timeutil.week_tow(gps_time)
    lon_main, lon_hp = _split(lon * 1e9, 100)     # 1e-7 deg + 1e-9 deg
    lat_main, lat_hp = _split(lat * 1e9, 100)
    h_main, h_hp = _split(height * 1e4, 10)       # mm + 0.1 mm
    return UBXMessage("NAV", "NAV-HPPOSLLH", 0, version=0, iTOW=int(round(tow * 1000)),
                      lon=_scaled(lon_main, 1e-7), lat=_scaled(lat_main, 1e-7),
                      _HPlon=_scaled(lon_hp, 1e-9), _HPlat=_scaled(lat_hp, 1e-9),
                      height=h_main, hMSL=h_main, _HPheight=_scaled(h_hp, 0.1),
                      _HPhMSL=_scaled(h_hp, 0.1), hAcc=_scaled(round(h_acc * 1e4), 0.1),
                      vAcc=_scaled(round(v_acc * 1e4), 0.1))


def nav_timegps(gps_time, leap=timeutil.DEFAULT_LEAP_SECONDS):
    week, tow = timeutil.week_tow(gps_time)
    return UBXMessage("NAV", "NAV-TIMEGPS", 0, iTOW=int(round(tow * 1000)), fTOW=0, week=week,
                      leapS=leap, towValid=1, weekValid=1, leapSValid=1, tAcc=20)


def tim_tp(next_pulse_gps):
    week, tow = timeutil.week_tow(next_pulse_gps)
    return UBXMessage("TIM", "TIM-TP", 0, towMS=int(round(tow * 1000)), towSubMS=0, qErr=0,
                      week=week, timeBase=0, utc=1)


def epoch(gps_time, lat, lon, height, hp=True, timegps=True, **kw):
    """The bytes a ZED-F9P sends for one navigation epoch."""
    out = b""
    if timegps:
        out += nav_timegps(gps_time, kw.get("leap", timeutil.DEFAULT_LEAP_SECONDS)).serialize()
    out += nav_pvt(gps_time, lat, lon, height, **kw).serialize()
    if hp:
        out += nav_hpposllh(gps_time, lat, lon, height, kw.get("h_acc", 0.014),
                            kw.get("v_acc", 0.02)).serialize()
    return out
