#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal demo`: a whole simulated campaign through the real flowgraph.

packet_source -> channel_emulator (moving transmitter, UBX logs) -> rx_chain
(ZC sync, Moose CFO, LS, CIR/LoS in C++) -> LoS log + offset estimator; then
the emulator's UBX logs are read by the real GNSS reader, the offsets
estimated, stored and reported, and compared with the emulator's truth.
"""

import math
import os
import sys
import time

import numpy as np
from gnuradio import gr

from ..calibration import store as calstore
from ..calibration import geometry
from ..gnss import ubx as gnss
from .emulator import channel_emulator
from ..calibration.offsets import OffsetEstimator
from ..calibration.pipeline import LosSink, _median_position
from ..radio.rx_chain import rx_chain
from ..radio.tx import packet_source
from ..fileio import OutputStaging
from ..signals import run_to_end

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
             gnss_sigma=0.01):
    """The campaign; outputs staged and swapped into out_dir at the end, then stored
    (interrupted: nothing stored, out_dir as it was)."""
    with OutputStaging(out_dir) as stage:
        r = _run_demo(stage.path, scenario, freq_hz, samp_rate, duration_s, elements, method,
                      snr_db, seed, False, heading_error_deg, joint, progress, log, reflection,
                      gnss_sigma)
        stage.commit()
    r["store_path"] = calstore.Store(store).add(r["doc"]) if store is not False else None
    return r


def _run_demo(out_dir, scenario, freq_hz, samp_rate, duration_s, elements, method, snr_db, seed,
              store, heading_error_deg, joint, progress, log, reflection, gnss_sigma):
    os.makedirs(out_dir, exist_ok=True)
    array = demo_array(elements, freq_hz)
    tx_ubx, rx_ubx = os.path.join(out_dir, "tx.ubx"), os.path.join(out_dir, "rx.ubx")
    for p in (tx_ubx, rx_ubx):
        if os.path.exists(p):
            os.remove(p)
    n_total = int(round(duration_s * samp_rate / 1278)) * 1278
    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=n_total, unit="S", unit_scale=True, desc="demo", file=sys.stderr,
                       leave=False, mininterval=0.5)
        except ImportError:
            bar = None
    last = [0]

    def on_progress(pos):
        if bar is not None:
            bar.update(pos - last[0])
        last[0] = pos

    emu = channel_emulator(array, freq_hz, samp_rate, scenario, duration_s, None, snr_db,
                           reflection_gamma=reflection, tx_ubx=tx_ubx, rx_ubx=rx_ubx, seed=seed,
                           gnss_sigma_m=gnss_sigma, progress=on_progress)
    # the array file the user would have: possibly with a compass error
    believed = geometry.parse_array(dict(geometry.array_to_dict(array),
                                         heading_deg=array.heading_deg + heading_error_deg))
    est = OffsetEstimator(believed, freq_hz, None, max_frames=200000)
    sink = LosSink(os.path.join(out_dir, "los.csv.tmp"), est)
    src = packet_source("", samp_rate, 1.0, duration_s)
    chain = rx_chain(num_chans=emu.nch, samp_rate=samp_rate, time_offset=0.0, method=method)
    tb = gr.top_block()
    tb.connect(src, emu)
    for c in range(emu.nch):
        tb.connect((emu, c), (chain, c))
    tb.msg_connect(chain, "los", sink, "los")
    t0 = time.monotonic()
    try:
        run_to_end(tb)
    finally:
        sink.close()
        if bar is not None:
            bar.close()
    os.replace(os.path.join(out_dir, "los.csv.tmp"), os.path.join(out_dir, "los.csv"))
    elapsed = time.monotonic() - t0

    # the real GNSS path: the logs the emulated receivers wrote
    tx_fixes, tx_dec = gnss.read_ubx_file(tx_ubx, "tx")
    rx_fixes, _ = gnss.read_ubx_file(rx_ubx, "rx")
    q = geometry.QualityGate()
    tx_good, tx_rej = geometry.gate(gnss.require_fixes(tx_fixes, tx_ubx), q)
    rx_good, _ = geometry.gate(gnss.require_fixes(rx_fixes, rx_ubx), q)
    origin = _median_position(rx_good)
    est.tx_track = geometry.Track(tx_good, origin)
    result = est.estimate(joint=joint)
    stats = chain.stats()
    doc = calstore.make_document(believed, result, samp_rate, None, ["SIMULATED"], method,
                                 quality={"simulated": True, "scenario": scenario,
                                          "duration_s": duration_s, "snr_db": snr_db,
                                          "frames_detected": stats["frames"],
                                          "tx_fixes": len(tx_fixes), "tx_fixes_rejected": tx_rej,
                                          "leap_seconds": tx_dec.stats.leap_seconds})
    from ..fileio import atomic_write_json
    atomic_write_json(os.path.join(out_dir, "calibration.json"), doc)
    store_path = calstore.Store(store).add(doc) if store is not False else None
    from ..calibration.report import write_report
    write_report(out_dir, believed, est, result, doc)
    return {"doc": doc, "truth": emu.truth(), "elapsed_s": elapsed, "array": array,
            "emulator": emu,
            "store_path": store_path, "stats": stats, "result": result, "believed": believed,
            "estimator": est}


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
