#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal demo`: the whole calibration on a simulated campaign."""

import argparse

from ..errors import UserError
from .common import eng_float, print_verdict


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
    p.add_argument("--freq", type=eng_float, default=1.3e9, help="Hz (default 1.3e9)")
    p.add_argument("--rate", type=eng_float, default=4e6, help="S/s (default 4e6)")
    p.add_argument("--duration", type=eng_float, default=30.0, help="campaign seconds (30)")
    p.add_argument("--elements", type=int, default=2,
                   help="2: the thesis's pair; more: a half-wavelength line")
    p.add_argument("--method", choices=("fft", "apes"), default="fft")
    p.add_argument("--snr", type=eng_float, default=20.0, help="per-sample SNR, dB")
    p.add_argument("--heading-error", type=eng_float, default=0.0,
                   help="degrees of compass error in the array file")
    p.add_argument("--joint-geometry", action=argparse.BooleanOptionalAction, default=True,
                   help="fit the heading and the radio-to-GNSS time offset with the offsets "
                        "(default on)")
    p.add_argument("--seed", type=int, default=1)
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
    print(f"arraycal demo: {args.scenario} campaign, {args.duration:g} s, {args.elements} "
          f"elements, {args.freq / 1e9:g} GHz, {args.rate / 1e6:g} MS/s, SNR {args.snr:g} dB, "
          f"method {args.method}", flush=True)
    r = run_demo(args.out, args.scenario, args.freq, args.rate, args.duration, args.elements,
                 args.method, args.snr, args.seed, args.store, args.heading_error,
                 args.joint_geometry, progress=not args.quiet)
    doc = r["doc"]
    q = doc["quality"]
    table, worst = comparison_table(doc, r["truth"])
    print(f"{q['frames_used']} of {q['frames_seen']} frames used; "
          f"{args.duration / r['elapsed_s']:.1f}x real time")
    if args.heading_error:
        print(f"(the array file's heading was {args.heading_error:+g} deg off)")
    print(table)
    print(f"worst error: {worst[0]:.3f} deg, {worst[1]:.3f} dB")
    code = print_verdict(doc)
    print(f"wrote {args.out}/calibration.json, los.csv, report.txt, figures"
          + (f"; stored {r['store_path']}" if r["store_path"] else ""))
    return code
