#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Geometry against hand-computed cases; interpolation; array-file validation."""

import math

import numpy as np
import pymap3d
import pytest
import yaml

from gnuradio.arraycal.calibration import geometry
from gnuradio.arraycal.errors import UserError
from gnuradio.arraycal.gnss.ubx import Fix

from conftest import REPO


def arr(heading=0.0, ant=(0, 0, 0), elems=((0, 0, 0), (1, 0, 0))):
    return geometry.parse_array({
        "name": "t", "heading_deg": heading, "gnss_antenna_m": list(ant), "reference": "e0",
        "elements": [{"id": f"e{i}", "channel": i, "position_m": list(p)}
                     for i, p in enumerate(elems)]})


@pytest.mark.parametrize("heading,right_enu,bore_enu", [
    (0.0, (1, 0, 0), (0, 1, 0)),      # facing north: right is east
    (90.0, (0, -1, 0), (1, 0, 0)),    # facing east: right is south
    (180.0, (-1, 0, 0), (0, -1, 0)),
    (30.0, (math.cos(math.radians(30)), -math.sin(math.radians(30)), 0),
     (math.sin(math.radians(30)), math.cos(math.radians(30)), 0)),
])
def test_body_to_enu(heading, right_enu, bore_enu):
    R = arr(heading).body_to_enu()
    np.testing.assert_allclose(R @ [1, 0, 0], right_enu, atol=1e-12)
    np.testing.assert_allclose(R @ [0, 1, 0], bore_enu, atol=1e-12)
    np.testing.assert_allclose(R @ [0, 0, 1], [0, 0, 1], atol=1e-12)


def test_element_positions_relative_to_the_gnss_antenna():
    a = arr(90.0, ant=(0.5, -1.0, 2.0), elems=((0, 0, 0), (1, 0, 0)))
    enu = a.element_enu()
    # element 0 is 0.5 m left, 1 m ahead, 2 m below the antenna; facing east:
    # left is north, ahead is east
    np.testing.assert_allclose(enu[0], [1.0, 0.5, -2.0], atol=1e-12)
    np.testing.assert_allclose(enu[1], [1.0, -0.5, -2.0], atol=1e-12)


def test_distances_and_angles_hand_computed():
    elem = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    tx = np.array([[0.0, 4.0, 0.0], [3.0, 0.0, 4.0]])
    d, az, el = geometry.los_geometry(tx, elem)
    np.testing.assert_allclose(d, [[4.0, 5.0], [5.0, 4.0]])
    np.testing.assert_allclose(az[0], [0.0, 360 - math.degrees(math.atan2(3, 4))])
    np.testing.assert_allclose(el[1], [math.degrees(math.atan2(4, 3)), 90.0])
    # angle of arrival relative to a boresight at 45 deg
    aoa = geometry.angle_of_arrival(np.array([[1.0, 1.0, 0], [1.0, 0.0, 0]]), np.zeros(3), 45.0)
    np.testing.assert_allclose(aoa, [0.0, 45.0])


def fix(t, lat, lon, h, **kw):
    base = dict(fix_type=3, carr_soln=2, h_acc=0.01, v_acc=0.02, num_sv=20)
    base.update(kw)
    return Fix(gps_time=t, lat=lat, lon=lon, height=h, **base)


ORIGIN = (63.4181, 10.4012, 50.0)


def geo(e, n, u):
    return pymap3d.enu2geodetic(e, n, u, *ORIGIN)


def test_track_geodetic_round_trip_and_interpolation():
    fixes = [fix(100.0 + i, *geo(10.0 * i, 5.0, 1.0)) for i in range(5)]
    tr = geometry.Track(fixes, ORIGIN)
    np.testing.assert_allclose(tr.at([100.0]), [[0.0, 5.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(tr.at([102.25]), [[22.5, 5.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(tr.at([104.0]), [[40.0, 5.0, 1.0]], atol=1e-6)  # last fix
    # never extrapolated
    assert np.all(np.isnan(tr.at([99.999, 104.001])))


def test_track_does_not_bridge_gaps():
    times = [0.0, 1.0, 2.0, 10.0, 11.0]
    fixes = [fix(t, *geo(t, 0.0, 0.0)) for t in times]
    tr = geometry.Track(fixes, ORIGIN, max_gap_s=2.0)
    got = tr.at([1.5, 5.0, 10.0, 10.5])
    assert np.isfinite(got[0]).all() and np.isnan(got[1]).all()
    np.testing.assert_allclose(got[2], [10.0, 0, 0], atol=1e-6)   # a fix itself is fine
    np.testing.assert_allclose(got[3], [10.5, 0, 0], atol=1e-6)


def test_quality_gate_counts_the_rejected():
    fixes = [fix(0, 1, 1, 1), fix(1, 1, 1, 1, carr_soln=1), fix(2, 1, 1, 1, fix_type=2),
             fix(3, 1, 1, 1, h_acc=2.0), fix(4, 1, 1, 1, gnss_fix_ok=False)]
    good, rej = geometry.gate(fixes, geometry.QualityGate(3, 2, 0.5))
    assert [f.gps_time for f in good] == [0]
    assert rej == {"carrier solution": 1, "fix type": 2, "h_acc": 1}


def test_example_array_files_load():
    a = geometry.load_array(REPO / "examples" / "arrays" / "outdoor_2el.yaml")
    assert [e.id for e in a.elements] == ["A", "B"] and a.reference == "A"
    assert a.heading_deg == 30.0
    d = np.linalg.norm(a.element_enu()[1] - a.element_enu()[0])
    assert d == pytest.approx(0.155)


GOOD = {"name": "x", "heading_deg": 10, "gnss_antenna_m": [0, 0, 0], "reference": "A",
        "elements": [{"id": "A", "channel": 0, "position_m": [0, 0, 0]},
                     {"id": "B", "channel": 1, "position_m": [0.1, 0, 0]}]}


@pytest.mark.parametrize("change,fragment", [
    (lambda d: d.pop("reference"), "missing 'reference'"),
    (lambda d: d.update(reference="Z"), "reference 'Z' is not one of"),
    (lambda d: d["elements"][1].update(channel=0), "channel 0 appears twice"),
    (lambda d: d["elements"][1].update(id="A"), "'A' appears twice"),
    (lambda d: d["elements"][0].update(channel=-1), "non-negative integer"),
    (lambda d: d["elements"][0].update(position_m=[0, 0]), "[x, y, z]"),
    (lambda d: d["elements"][0].update(position_m=[0, "a", 0]), "hold numbers"),
    (lambda d: d.update(heading_deg="north"), "heading_deg must be a number"),
    (lambda d: d.update(elements=[]), "non-empty list"),
    (lambda d: d.update(colour="red"), "unknown key"),
])
def test_array_file_errors_are_clear(change, fragment, tmp_path):
    import copy
    doc = copy.deepcopy(GOOD)
    change(doc)
    p = tmp_path / "a.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(UserError) as e:
        geometry.load_array(p)
    assert fragment in str(e.value) and str(p) in str(e.value)
    assert "\n" not in str(e.value)


def test_array_file_not_yaml_or_missing(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        geometry.load_array(p)
    with pytest.raises(UserError, match="not found"):
        geometry.load_array(tmp_path / "none.yaml")
