#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal demo`: a whole simulated campaign through the real flowgraph.

packet_source -> channel_emulator (moving transmitter, UBX logs) -> rx_chain
(ZC sync, Moose CFO, LS, CIR/LoS in C++) -> los.csv; then the calibration
pipeline of a real campaign (the emulator's UBX logs through the real GNSS
reader, the offsets estimated, judged, stored and reported), compared with the
emulator's truth.
"""

import math
import os
import time

import numpy as np
from gnuradio import gr

from ..calibration import geometry, pipeline
from ..radio.tx import packet_source
from .emulator import channel_emulator

C = geometry.C


def demo_array(elements, freq_hz, spacing=None):
    """The thesis's two elements 0.155 m apart, or a half-wavelength ULA."""
    if elements == 2 and spacing is None:
        doc = {"name": "outdoor-2el", "heading_deg": 30.0, "gnss_antenna_m": [0.0775, -0.2, 0.3],
               "reference": "A",
               "elements": [{"id": "A", "channel": 0, "position_m": [0.0, 0.0, 0.0]},
                            {"id": "B", "channel": 1, "position_m": [0.155, 0.0, 0.0]}]}
    else:
        s = spacing or C / freq_hz / 2
        doc = {"name": f"ula{elements}", "heading_deg": 30.0, "gnss_antenna_m": [0.0, -0.2, 0.3],
               "reference": "E0",
               "elements": [{"id": f"E{i}", "channel": i,
                             "position_m": [(i - (elements - 1) / 2) * s, 0.0, 0.0]}
                            for i in range(elements)]}
    return geometry.parse_array(doc, "<demo array>")


def run_demo(out_dir="arraycal-demo", scenario="snake", freq_hz=1.3e9, samp_rate=4e6,
             duration_s=40.0, elements=2, method="fft", snr_db=20.0, seed=1, store=None,
             heading_error_deg=0.0, joint=False, progress=True, log=print, reflection=None,
             gnss_sigma=0.01, ground_height_m=1.5, two_ray=False, ground_known=True,
             permittivity=None):
    """The campaign, its outputs staged and swapped into out_dir at the end, then stored
    (interrupted: nothing stored, out_dir as it was)."""
    return pipeline.staged(
        lambda d: _run_demo(d, scenario, freq_hz, samp_rate, duration_s, elements, method,
                            snr_db, seed, False, heading_error_deg, joint, progress, log,
                            reflection, gnss_sigma, ground_height_m, two_ray, ground_known,
                            permittivity), out_dir, (), store)


def _run_demo(out_dir, scenario, freq_hz, samp_rate, duration_s, elements, method, snr_db, seed,
              store, heading_error_deg, joint, progress, log, reflection, gnss_sigma,
              ground_height_m, two_ray, ground_known, permittivity):
    """The emulated campaign through the receive chain into los.csv, then the
    calibration pipeline on the emulator's UBX logs, as for a real campaign.

    reflection: the ground's coefficient (None: the emulator's default), or with
    permittivity Fresnel's; ground_height_m: the array's GNSS antenna above the ground.
    two_ray: calibrate with the two-ray model (the array file then carries the ground
    height when ground_known, else the height is searched)."""
    os.makedirs(out_dir, exist_ok=True)
    array = demo_array(elements, freq_hz)
    tx_ubx, rx_ubx = os.path.join(out_dir, "tx.ubx"), os.path.join(out_dir, "rx.ubx")
    for p in (tx_ubx, rx_ubx):
        if os.path.exists(p):
            os.remove(p)
    n_total = int(round(duration_s * samp_rate / 1278)) * 1278
    feed = pipeline._Feed(n_total, "demo", progress)
    emu = channel_emulator(array, freq_hz, samp_rate, scenario, duration_s, None, snr_db,
                           reflection_gamma=reflection, tx_ubx=tx_ubx, rx_ubx=rx_ubx, seed=seed,
                           gnss_sigma_m=gnss_sigma, progress=feed,
                           ground_height_m=ground_height_m, ground_permittivity=permittivity)
    # the array file the user would have: possibly with a compass error
    believed_doc = dict(geometry.array_to_dict(array),
                        heading_deg=array.heading_deg + heading_error_deg)
    if ground_known and two_ray:
        # only with the two-ray model: the array file written beside the results is the
        # one `process` would read, and a ground height there turns the model on
        believed_doc["ground_height_m"] = float(ground_height_m)
    believed = geometry.parse_array(believed_doc)
    los_path = os.path.join(out_dir, "los.csv")
    if os.path.exists(los_path):
        os.remove(los_path)
    src = packet_source("", samp_rate, 1.0, duration_s)
    tb = gr.top_block()
    tb.connect(src, emu)
    t0 = time.monotonic()
    stats, _ = pipeline.run_chain(tb, emu, emu.nch, samp_rate, los_path, 0.0, method,
                                  feed=feed)
    elapsed = time.monotonic() - t0
    # the real GNSS path: the logs the emulated receivers wrote
    pos = pipeline.load_positions(tx_ubx, rx_ubx)
    est = pipeline.estimator_from_log(los_path, believed, freq_hz, pos)
    # the two-ray model (with the array file's ground height) only when asked
    est.ground = bool(two_ray)
    q = dict(pos.quality, scenario=scenario, duration_s=duration_s, snr_db=snr_db,
             frames_detected=stats["frames"], leap_seconds=pos.leap_seconds,
             origin=list(pos.origin))
    s = pipeline.calibrate(est, believed, sample_rate=samp_rate, method=method, out_dir=out_dir,
                           store=store, joint=joint, quality=q, simulated=True)
    s.update(truth=emu.truth(), elapsed_s=elapsed, array=array, emulator=emu, stats=stats,
             believed=believed)
    return s


def comparison_table(doc, truth):
    lines = [f"{'element':>8s} {'true amp_dB':>12s} {'phase_deg':>10s}   {'estimated amp_dB':>16s} "
             f"{'phase_deg':>10s}   {'error deg':>9s} {'dB':>7s}"]
    worst = (0.0, 0.0)
    for e in doc["elements"]:
        z = complex(e["offset"]["re"], e["offset"]["im"])
        t = truth[e["id"]]
        dph = math.degrees(np.angle(z / t))
        ddb = 20 * math.log10(abs(z) / abs(t))
        worst = (max(worst[0], abs(dph)), max(worst[1], abs(ddb)))
        lines.append(f"{e['id']:>8s} {20 * math.log10(abs(t)):12.3f} "
                     f"{math.degrees(np.angle(t)):10.3f}   {e['amp_db']:16.3f} "
                     f"{e['phase_deg']:10.3f}   {dph:9.3f} {ddb:7.3f}")
    return "\n".join(lines), worst
