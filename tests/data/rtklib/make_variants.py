#!/usr/bin/python3
#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Derive the variants of rtklib-py_demo5_b34f_f_head.pos (the same solution in other
time systems, time formats and position formats) the way RTKLIB's outsol writes them.

Independent of arraycal: plain datetime arithmetic with the leap seconds of the
solution's date (GPS - UTC = 18 s since 2017-01-01) and pymap3d for ECEF. Run from
this folder; the outputs are committed next to it.
"""

import datetime as dt

import pymap3d

SRC = "rtklib-py_demo5_b34f_f_head.pos"
LEAP = dt.timedelta(seconds=18)
JST = dt.timedelta(hours=9)
GPS_EPOCH = dt.datetime(1980, 1, 6)
COLS = ("sdn(m)   sde(m)   sdu(m)  sdne(m)  sdeu(m)  sdun(m) age(s)  ratio")


def rows():
    for line in open(SRC):
        if line.startswith("%"):
            continue
        f = line.split()
        t = dt.datetime.strptime(f[0] + " " + f[1], "%Y/%m/%d %H:%M:%S.%f")
        yield t, [float(x) for x in f[2:5]], f[5:]


def week_tow(t):
    s = (t - GPS_EPOCH).total_seconds()
    week = int(s // 604800)
    return f"{week:4d} {s - week * 604800:10.3f}"


def write(name, system, weektow, pos):
    with open(name, "w") as out:
        out.write(f"% derived from {SRC} by make_variants.py: {system}, "
                  f"{'week/TOW' if weektow else 'date'}, {pos}\n")
        tcol = f"{system:<14s}" if weektow else f"{system:<22s}"
        pcol = {"llh": "latitude(deg) longitude(deg)  height(m)",
                "ecef": "   x-ecef(m)      y-ecef(m)      z-ecef(m)",
                "dms": " latitude(d'\")   longitude(d'\")  height(m)"}[pos]
        out.write(f"%  {tcol} {pcol}   Q  ns   {COLS}\n")
        for t, (lat, lon, h), rest in rows():
            ts = {"GPST": t, "UTC": t - LEAP, "JST": t - LEAP + JST}[system]
            tt = week_tow(ts) if weektow else ts.strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
            if pos == "llh":
                p = f"{lat:14.9f} {lon:14.9f} {h:10.4f}"
            elif pos == "ecef":
                x, y, z = pymap3d.geodetic2ecef(lat, lon, h)
                p = f"{x:14.4f} {y:14.4f} {z:14.4f}"
            else:
                def dms(v):
                    a = abs(v)
                    d, m = int(a), int((a - int(a)) * 60)
                    s = (a - d - m / 60) * 3600
                    return f"{'-' if v < 0 else ' '}{d:3d} {m:02d} {s:9.6f}"
                p = f"{dms(lat)} {dms(lon)} {h:10.4f}"
            out.write(f"{tt}  {p} " + " ".join(f"{x:>8s}" for x in rest) + "\n")


for system in ("GPST", "UTC", "JST"):
    for weektow in (False, True):
        name = f"demo5_{system.lower()}_{'weektow' if weektow else 'date'}.pos"
        if system == "GPST" and not weektow:
            continue  # the source itself
        write(name, system, weektow, "llh")
write("demo5_utc_date_ecef.pos", "UTC", False, "ecef")
write("demo5_jst_weektow_dms.pos", "JST", True, "dms")
