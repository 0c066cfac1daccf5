#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Array geometry: the array file, element positions, distances and angles.

Array file (YAML):
    name: outdoor-2el
    elements:                        # body frame: x right, y boresight, z up (m)
      - {id: A, channel: 0, position_m: [0.0, 0.0, 0.0]}
      - {id: B, channel: 1, position_m: [0.155, 0.0, 0.0]}
    gnss_antenna_m: [0.0775, -0.10, 0.25]   # the array's GNSS antenna, same frame
    heading_deg: 30.0                # boresight azimuth, degrees from true north
    reference: A
    ground_height_m: 6.0             # optional: the GNSS antenna above the reflecting
                                     # ground (a tape measure), for the two-ray model
Geodetic <-> local ENU with pymap3d (WGS84).
"""

import math
import os
from dataclasses import dataclass

import numpy as np
import pymap3d
import yaml

from ..errors import UserError

C = 299792458.0


@dataclass
class Element:
    id: str
    channel: int
    position_m: np.ndarray


@dataclass
class ArrayGeometry:
    name: str
    elements: list
    gnss_antenna_m: np.ndarray
    heading_deg: float
    reference: str
    source: str = ""
    ground_height_m: float = None

    @property
    def channels(self):
        return [e.channel for e in self.elements]

    def element(self, eid):
        for e in self.elements:
            if e.id == eid:
                return e
        raise KeyError(eid)

    def ref_index(self):
        return [e.id for e in self.elements].index(self.reference)

    def body_to_enu(self, heading_deg=None):
        """3x3 rotation: body (x right, y boresight, z up) -> ENU."""
        h = math.radians(self.heading_deg if heading_deg is None else heading_deg)
        return np.array([[math.cos(h), math.sin(h), 0.0],
                         [-math.sin(h), math.cos(h), 0.0],
                         [0.0, 0.0, 1.0]])

    def element_enu(self, heading_deg=None, lever_arm_m=None):
        """Element positions in ENU (m) relative to the array's GNSS antenna, (n, 3)."""
        R = self.body_to_enu(heading_deg)
        ant = self.gnss_antenna_m if lever_arm_m is None else self.gnss_antenna_m + lever_arm_m
        return np.array([R @ (e.position_m - ant) for e in self.elements])


def _fail(src, what):
    raise UserError(f"array file {src}: {what}")


def _vec3(v, src, where):
    if not isinstance(v, (list, tuple)) or len(v) != 3:
        _fail(src, f"{where} must be [x, y, z] in metres")
    try:
        out = np.array([float(x) for x in v])
    except (TypeError, ValueError):
        _fail(src, f"{where} must hold numbers")
    if not np.all(np.isfinite(out)):
        _fail(src, f"{where} must be finite")
    return out


def parse_array(doc, src="<array>"):
    if not isinstance(doc, dict):
        _fail(src, "must be a YAML mapping with name, elements, gnss_antenna_m, "
                   "heading_deg, reference")
    for key in ("name", "elements", "gnss_antenna_m", "heading_deg", "reference"):
        if key not in doc:
            _fail(src, f"missing '{key}'")
    unknown = set(doc) - {"name", "elements", "gnss_antenna_m", "heading_deg", "reference",
                          "description", "notes", "ground_height_m"}
    if unknown:
        _fail(src, f"unknown key(s) {', '.join(sorted(unknown))}")
    els = doc["elements"]
    if not isinstance(els, list) or not els:
        _fail(src, "'elements' must be a non-empty list")
    elements, ids, chans = [], set(), set()
    for i, e in enumerate(els):
        where = f"elements[{i}]"
        if not isinstance(e, dict):
            _fail(src, f"{where} must be a mapping {{id, channel, position_m}}")
        for key in ("id", "channel", "position_m"):
            if key not in e:
                _fail(src, f"{where} misses '{key}'")
        eid = str(e["id"])
        ch = e["channel"]
        if isinstance(ch, bool) or not isinstance(ch, int) or ch < 0:
            _fail(src, f"{where}.channel must be a non-negative integer")
        if eid in ids:
            _fail(src, f"{where}: element id '{eid}' appears twice")
        if ch in chans:
            _fail(src, f"{where}: channel {ch} appears twice")
        ids.add(eid)
        chans.add(ch)
        elements.append(Element(eid, ch, _vec3(e["position_m"], src, f"{where}.position_m")))
    try:
        heading = float(doc["heading_deg"])
    except (TypeError, ValueError):
        _fail(src, "heading_deg must be a number (degrees from true north)")
    if not math.isfinite(heading):
        _fail(src, "heading_deg must be finite")
    ref = str(doc["reference"])
    if ref not in ids:
        _fail(src, f"reference '{ref}' is not one of the element ids {sorted(ids)}")
    ground = doc.get("ground_height_m")
    if ground is not None:
        try:
            ground = float(ground) if not isinstance(ground, bool) else None
        except (TypeError, ValueError):
            ground = None
        if ground is None or not math.isfinite(ground) or ground <= 0:
            _fail(src, "ground_height_m must be a positive number of metres (the GNSS "
                       "antenna's height above the ground)")
    return ArrayGeometry(str(doc["name"]), elements,
                         _vec3(doc["gnss_antenna_m"], src, "gnss_antenna_m"), heading, ref, src,
                         ground)


def load_array(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"array file '{path}' not found")
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark else ""
        raise UserError(f"array file {path}: not valid YAML{at}") from None
    return parse_array(doc, path)


def array_to_dict(a):
    d = {"name": a.name,
         "elements": [{"id": e.id, "channel": e.channel,
                       "position_m": [float(x) for x in e.position_m]} for e in a.elements],
         "gnss_antenna_m": [float(x) for x in a.gnss_antenna_m],
         "heading_deg": float(a.heading_deg), "reference": a.reference}
    if a.ground_height_m is not None:
        d["ground_height_m"] = float(a.ground_height_m)
    return d


# ---- positions over time ----------------------------------------------------
@dataclass
class QualityGate:
    """Which fixes count. Defaults: 3D fix, any carrier solution, h_acc <= 0.5 m."""
    min_fix_type: int = 3
    min_carr_soln: int = 0
    max_h_acc: float = 0.5

    def check(self, fix):
        if not fix.gnss_fix_ok or fix.fix_type < self.min_fix_type or fix.fix_type == 5:
            return "fix type"
        if fix.carr_soln < self.min_carr_soln:
            return "carrier solution"
        if fix.h_acc > self.max_h_acc:
            return "h_acc"
        return None


def gate(fixes, quality):
    """Fixes that pass, and counts of those that don't, by reason."""
    good, rejected = [], {}
    for f in fixes:
        why = quality.check(f)
        if why is None:
            good.append(f)
        else:
            rejected[why] = rejected.get(why, 0) + 1
    return good, rejected


class Track:
    """Positions of one GNSS antenna over time, interpolated in a local ENU frame.

    Akima splines through the fixes (local, without the overshoot of cubic
    splines at a walker's corners): a transmitter moving fast between 5 Hz
    fixes is off its chord by centimetres, which straight lines would turn
    into degrees of phase across a baseline. Segments with fewer than five
    fixes are interpolated linearly. Times outside the data, or in a gap
    between fixes longer than max_gap_s, give NaN: positions are
    interpolated, never extrapolated.
    """

    def __init__(self, fixes, origin, max_gap_s=2.0):
        fixes = sorted(fixes, key=lambda f: f.gps_time)
        if not fixes:
            raise UserError("no usable GNSS fix to build a track from")
        self.origin = origin
        t = np.array([f.gps_time for f in fixes])
        keep = np.concatenate([[True], np.diff(t) > 0])
        fixes = [f for f, k in zip(fixes, keep) if k]
        self.t = t[keep]
        lat = np.array([f.lat for f in fixes])
        lon = np.array([f.lon for f in fixes])
        h = np.array([f.height for f in fixes])
        e, n, u = pymap3d.geodetic2enu(lat, lon, h, *origin)
        self.enu = np.stack([e, n, u], axis=1)
        self.max_gap = max_gap_s
        # segments between gaps, each with its own interpolator
        cuts = np.flatnonzero(np.diff(self.t) > max_gap_s) + 1
        self.segments = []
        for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(self.t)]])):
            ts, ps = self.t[a:b], self.enu[a:b]
            if len(ts) >= 5:
                from scipy.interpolate import Akima1DInterpolator
                f = Akima1DInterpolator(ts, ps, axis=0)
            elif len(ts) >= 2:
                f = (lambda ts, ps: lambda x: np.stack(
                    [np.interp(x, ts, ps[:, j]) for j in range(3)], axis=-1))(ts, ps)
            else:
                f = (lambda p: lambda x: np.broadcast_to(p, (len(x), 3)).copy())(ps[0])
            self.segments.append((ts[0], ts[-1], f))
        self._starts = np.array([seg[0] for seg in self.segments])

    def at(self, times):
        """ENU (m) at the given GPS times, (n, 3); NaN rows where unknown."""
        times = np.atleast_1d(np.asarray(times, dtype=float))
        out = np.full((len(times), 3), np.nan)
        which = np.searchsorted(self._starts, times, side="right") - 1
        for s, (t0, t1, f) in enumerate(self.segments):
            sel = (which == s) & (times >= t0) & (times <= t1)
            if sel.any():
                out[sel] = f(times[sel])
        return out


def los_geometry(tx_enu, elem_enu):
    """Distances (m), azimuths and elevations (deg) from each element to the transmitter.

    tx_enu: (n, 3) transmitter positions; elem_enu: (m, 3) element positions,
    both in the same ENU frame. Returns arrays (n, m).
    """
    v = tx_enu[:, None, :] - elem_enu[None, :, :]
    d = np.linalg.norm(v, axis=2)
    az = np.degrees(np.arctan2(v[..., 0], v[..., 1])) % 360.0
    el = np.degrees(np.arctan2(v[..., 2], np.hypot(v[..., 0], v[..., 1])))
    return d, az, el


def angle_of_arrival(tx_enu, array_enu_origin, heading_deg):
    """Azimuth of the transmitter relative to the array boresight (deg, + to the right)."""
    v = tx_enu - array_enu_origin
    az = np.degrees(np.arctan2(v[..., 0], v[..., 1]))
    return (az - heading_deg + 180.0) % 360.0 - 180.0
