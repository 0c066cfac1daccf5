#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal demo`: the whole calibration on a simulated campaign."""

import argparse

from ..errors import UserError
from .common import (angle_deg, float_range, frequency_hz, int_range, print_verdict,
                     sample_rate, seed, snr_db)


# ---------------------------------------------------------------- demo
def add_demo(sub):
    p = sub.add_parser(
        "demo", help="the whole calibration on a simulated campaign, no hardware",
        description="Runs a simulated campaign through the real flowgraph: the transmitter's "
                    "packet source, a channel emulator (moving transmitter, element offsets, "
                    "ground reflection, CFO, noise, and the UBX logs of both GNSS receivers), "
                    "the C++ receive chain, the GNSS reader, offset estimation, the "
                    "calibration store and the report; then compares with the truth. "
                    "Default: the thesis's outdoor set-up (2 elements 0.155 m apart, 1.3 GHz, "
                    "4 MS/s, snake walk).")
    p.add_argument("--scenario", choices=("snake", "turntable", "orbit"), default="snake")
    p.add_argument("--freq", type=frequency_hz, default=1.3e9, help="Hz (default 1.3e9)")
    p.add_argument("--rate", type=sample_rate, default=4e6, help="S/s (default 4e6)")
    p.add_argument("--duration", type=float_range(0, 3600, True, "a duration (s)"), default=30.0, help="campaign seconds (30)")
    p.add_argument("--elements", type=int_range(2, 64, "an element count"), default=2,
                   help="2: the thesis's pair; more: a half-wavelength line")
    p.add_argument("--method", choices=("fft", "apes"), default="fft")
    p.add_argument("--snr", type=snr_db, default=20.0, help="per-sample SNR, dB")
    p.add_argument("--heading-error", type=angle_deg, default=0.0,
                   help="degrees of compass error in the array file")
    p.add_argument("--joint-geometry", action=argparse.BooleanOptionalAction, default=True,
                   help="fit the heading and the radio-to-GNSS time offset with the offsets "
                        "(default on)")
    p.add_argument("--ground-height", type=float_range(0.1, 100.0, what="ground height (m)"),
                   default=1.5,
                   help="the array's GNSS antenna above the reflecting ground, m (1.5)")
    p.add_argument("--reflection", type=float_range(-1.0, 1.0, what="reflection coefficient"),
                   default=None,
                   help="the ground's reflection coefficient (default -0.3 outdoors, "
                        "0 on the turntable)")
    p.add_argument("--two-ray", action="store_true",
                   help="calibrate with the two-ray (ground reflection) model")
    p.add_argument("--seed", type=seed, default=1)
    p.add_argument("--out", default="arraycal-demo", help="output directory")
    p.add_argument("--store", help="calibration store (default: the user store)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args):
    from ..sim.demo import comparison_table, run_demo
    if args.elements < 2:
        raise UserError("a calibration needs at least 2 elements")
    if not 0 < args.duration <= 3600:
        raise UserError("duration must be in (0, 3600] s")
    if not 0 < args.ground_height <= 1000:
        raise UserError("ground height must be in (0, 1000] m")
    if args.reflection is not None and not abs(args.reflection) <= 1:
        raise UserError("the reflection coefficient must be in [-1, 1]")
    print(f"arraycal demo: {args.scenario} campaign, {args.duration:g} s, {args.elements} "
          f"elements, {args.freq / 1e9:g} GHz, {args.rate / 1e6:g} MS/s, SNR {args.snr:g} dB, "
          f"method {args.method}", flush=True)
    r = run_demo(args.out, args.scenario, args.freq, args.rate, args.duration, args.elements,
                 args.method, args.snr, args.seed, args.store, args.heading_error,
                 args.joint_geometry, progress=not args.quiet, reflection=args.reflection,
                 ground_height_m=args.ground_height, two_ray=args.two_ray)
    doc = r["doc"]
    q = doc["quality"]
    table, worst = comparison_table(doc, r["truth"])
    print(f"{q['frames_used']} of {q['frames_seen']} frames used; "
          f"{args.duration / r['elapsed_s']:.1f}x real time")
    if args.heading_error:
        print(f"(the array file's heading was {args.heading_error:+g} deg off)")
    print(table)
    if q.get("two_ray"):
        tr = q["two_ray"]
        print(f"two-ray: reflection {tr['gamma_db']:.1f} dB at {tr['gamma_phase_deg']:.0f} deg, "
              f"ground {tr['ground_height_m']:.3f} m; residual {tr['residual_rms_los']:.4f} "
              f"-> {tr['residual_rms_two_ray']:.4f}; {tr['note']}")
    print(f"worst error: {worst[0]:.3f} deg, {worst[1]:.3f} dB")
    code = print_verdict(doc)
    print(f"wrote {args.out}/calibration.json, los.csv, report.txt, figures"
          + (f"; stored {r['store_path']}" if r["store_path"] else ""))
    return code
