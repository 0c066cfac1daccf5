#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal process` and `arraycal report`: a recording + GNSS -> calibration."""

import argparse
import sys

from ..errors import UserError
from .common import (frequency_hz, int_range, position, positive_float, print_offsets,
                     print_verdict, sample_rate, snr_db, triple)


# ---------------------------------------------------------------- process


def add_process(sub):
    p = sub.add_parser(
        "process", help="recording + GNSS + array file -> LoS log, calibration, report",
        description="Offline calibration: the SigMF recording streams through the C++ receive "
                    "chain; the LoS taps, with the transmitter's GNSS positions and the array "
                    "file, give each element's offset against the reference. Writes "
                    "OUT/los.csv, OUT/calibration.json, OUT/report.txt and figures, and adds "
                    "the calibration to the store.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--iq", help="recording, REC.sigmf-meta")
    src.add_argument("--los", help="instead of a recording: a LoS log (los.csv) from "
                                   "arraycal rx or a receiver flowgraph (needs --freq, --rate)")
    p.add_argument("--freq", type=frequency_hz,
                   help="with --los: carrier frequency, Hz; with --iq: which frequency's "
                        "captures to process in a recording retuned to several (default: "
                        "the recording's one frequency)")
    p.add_argument("--rate", type=sample_rate,
                   help="with --los: sample rate, S/s (a recording carries its own)")
    p.add_argument("--array", required=True, help="array file (YAML)")
    p.add_argument("--tx-gnss", required=True, help="transmitter GNSS: UBX log or RTKLIB .pos")
    p.add_argument("--rx-gnss", help="the array's GNSS log (UBX or .pos); its median is used")
    p.add_argument("--rx-position", type=position, help="LAT,LON,HEIGHT of the array's GNSS "
                                                       "antenna, instead of --rx-gnss")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--method", choices=("fft", "apes"), default="fft")
    p.add_argument("--pick", choices=("strongest", "first", "predicted"), default="strongest")
    p.add_argument("--apes-len", type=int_range(1, 1276, "an APES length"), default=200, help="APES filter length (default 200)")
    p.add_argument("--zero-pad", type=int_range(1, 64, "a zero-pad factor"), default=1,
                   help="CIR grid refinement (default 1: candidate lobes are refined; "
                        "the thesis used 10)")
    p.add_argument("--joint-geometry", action=argparse.BooleanOptionalAction, default=True,
                   help="fit the array heading and the radio-to-GNSS time offset with the "
                        "offsets, where the data identify them (default on)")
    p.add_argument("--fit-lever-arm", action="store_true",
                   help="with --joint-geometry, also the GNSS lever arm")
    p.add_argument("--min-fix-type", type=int_range(0, 5, "a fix type"), default=3)
    p.add_argument("--min-carr-soln", type=int, default=0, choices=(0, 1, 2),
                   help="0 any, 1 float or fixed RTK, 2 fixed RTK only")
    p.add_argument("--max-h-acc", type=positive_float, default=0.5, help="m (default 0.5)")
    p.add_argument("--tx-offset", type=triple, default=[0.0, 0.0, 0.0],
                   help="transmitter phase centre minus its GNSS antenna, E,N,U in m")
    p.add_argument("--min-snr", type=snr_db, default=10.0, help="LoS tap SNR, dB (default 10)")
    p.add_argument("--store", help="calibration store directory (default: the user store)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_process)




def _cmd_process(args):
    from ..calibration import geometry
    from ..calibration.pipeline import process
    q = geometry.QualityGate(args.min_fix_type, args.min_carr_soln, args.max_h_acc)
    if args.los:
        from ..calibration.pipeline import calibrate_from_los
        if not args.freq or not args.rate:
            raise UserError("--los needs --freq and --rate")
        s = calibrate_from_los(args.los, args.array, args.tx_gnss, args.out, args.freq,
                               args.rate, rx_gnss=args.rx_gnss, rx_position=args.rx_position,
                               joint=args.joint_geometry, fit_lever_arm=args.fit_lever_arm,
                               quality=q, tx_offset_enu=args.tx_offset, min_snr_db=args.min_snr,
                               store=args.store, method=args.method)
        print_offsets(s["doc"])
        code = print_verdict(s["doc"])
        print(f"wrote {args.out}/calibration.json, report.txt; "
              + (f"stored {s['store_path']}" if s["store_path"] else "not stored"))
        return code
    if args.rate:
        # the recording's own rate is the truth; a different one given here would be
        # silently ignored
        raise UserError("--rate goes with --los: a recording (--iq) carries its own sample "
                        "rate")
    s = process(args.iq, args.array, args.tx_gnss, args.out, rx_gnss=args.rx_gnss,
                rx_position=args.rx_position, method=args.method, pick=args.pick,
                apes_len=args.apes_len, zero_pad=args.zero_pad, joint=args.joint_geometry,
                fit_lever_arm=args.fit_lever_arm, quality=q, tx_offset_enu=args.tx_offset,
                min_snr_db=args.min_snr, store=args.store, progress=not args.quiet,
                freq_hz=args.freq,
                log=lambda m: print(f"arraycal process: {m}", file=sys.stderr, flush=True))
    doc = s["doc"]
    q = doc["quality"]
    print(f"arraycal process: {q['frames_used']} of {q['frames_seen']} frames used, "
          f"{s['realtime_factor']:.1f}x real time")
    print_offsets(doc)
    code = print_verdict(doc)
    print(f"wrote {args.out}/calibration.json, los.csv, report.txt; "
          + (f"stored {s['store_path']}" if s["store_path"] else "not stored"))
    return code


def add_report(sub):
    p = sub.add_parser("report", help="(re)write the report of a process output directory",
                       description="Regenerate report.txt and the figures from OUT "
                                   "(calibration.json, frames.npz, array.yaml).")
    p.add_argument("dir")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args):
    from ..calibration.pipeline import regenerate_report
    doc = regenerate_report(args.dir)
    print(f"wrote {args.dir}/report.txt and figures ({doc['array']}, "
          f"{doc['freq_hz'] / 1e6:.3f} MHz)")
    return 0
