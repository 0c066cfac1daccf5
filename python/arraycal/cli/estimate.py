#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal estimate`: one calibration from the LoS streams of several receiver hosts."""

import argparse
import os
import time

from ..errors import UserError
from ..signals import Terminated, run_flowgraph
from .common import (count, duration_s, frequency_hz, position, print_offsets, print_verdict,
                     sample_rate)


def add_estimate(sub):
    p = sub.add_parser(
        "estimate", help="several receiver hosts' LoS (arraycal rx --los-sink) -> one "
                         "calibration",
        description="The estimator of an array spread over several receiver hosts: "
                    "subscribes to every host's `arraycal rx --los-sink` (one --los each), "
                    "pairs the hosts' frames of each transmitted packet by GPS time, writes "
                    "the joint frames to OUT/los.csv (array channel numbers) and, when every "
                    "host has ended (or --frames / --duration / --idle-stop), calibrates "
                    "them with the GNSS logs as `process --los` does. The hosts must share a "
                    "10 MHz and PPS reference and be timed from GNSS (--sync gps_time).")
    p.add_argument("--los", action="append", required=True, metavar="zmq:ADDR",
                   help="a host's --los-sink address (repeat for every host)")
    p.add_argument("--array", required=True, help="array file (YAML), array channel numbers")
    p.add_argument("--tx-gnss", required=True,
                   help="the transmitter's UBX log or RTKLIB .pos (read at the end)")
    p.add_argument("--rx-gnss", help="the array's GNSS log (UBX or .pos; read at the end)")
    p.add_argument("--rx-position", type=position, help="LAT,LON,HEIGHT of the array's GNSS "
                                                       "antenna, instead of --rx-gnss")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--freq", type=frequency_hz,
                   help="carrier, Hz (default: the hosts'; given, the hosts must agree)")
    p.add_argument("--rate", type=sample_rate,
                   help="sample rate, S/s (default: the hosts'; given, the hosts must agree)")
    p.add_argument("--method", choices=("fft", "apes"), default="fft",
                   help="the hosts' rx --method, recorded in the calibration")
    p.add_argument("--frames", type=count, default=0,
                   help="stop after this many joint frames (default 0: when the hosts end)")
    p.add_argument("--duration", type=duration_s, default=0.0,
                   help="stop after this span of GPS time of joint frames, s (default 0: "
                        "when the hosts end)")
    p.add_argument("--idle-stop", type=duration_s, default=10.0,
                   help="stop when no host sent anything for this long, and take a host "
                        "silent this long while others go on as ended (s; longer than the "
                        "hosts' rx --idle-stop, after which they send their end message)")
    p.add_argument("--start-timeout", type=duration_s, default=30.0,
                   help="give up when a host sent nothing this long after the start (s, "
                        "default 30; 0 waits for ever)")
    p.add_argument("--store", help="calibration store (default: the user store)")
    p.add_argument("--joint-geometry", action=argparse.BooleanOptionalAction, default=True,
                   help="fit the heading and the radio-to-GNSS time offset (default on)")
    p.set_defaults(func=_cmd_estimate)


def _check(args):
    from ..calibration import geometry
    for spec in args.los:
        if not spec.startswith("zmq:") or not spec[4:]:
            raise UserError(f"--los '{spec}': use zmq:ADDR, a host's --los-sink address "
                            "(a host's los.csv: arraycal process --los)")
    if len(set(args.los)) != len(args.los):
        raise UserError("a --los address is given twice")
    array = geometry.load_array(args.array)
    for opt, path in (("--tx-gnss", args.tx_gnss), ("--rx-gnss", args.rx_gnss)):
        if path and path.startswith("zmq:"):
            raise UserError(f"{opt} {path}: estimate reads GNSS logs at the end; give the "
                            "log file")
        if path and not os.path.isfile(path):
            print(f"arraycal estimate: note: {opt} {path} does not exist yet; it is read at "
                  "the end (it must be written while this runs)", flush=True)
    if not args.rx_gnss and args.rx_position is None:
        raise UserError("the array's position is needed: --rx-gnss FILE or --rx-position "
                        "LAT,LON,HEIGHT")
    return array


def _cmd_estimate(args):
    array = _check(args)
    from gnuradio import gr, zeromq
    from ..arraycal_python import los_logger
    from ..radio.multihost import format_channels, los_aligner
    from ..radio.waveform import packet
    made_out = not os.path.isdir(args.out)
    os.makedirs(args.out, exist_ok=True)
    los_path = os.path.join(args.out, "los.csv")
    moved = os.path.exists(los_path)
    if moved:
        os.replace(los_path, los_path + ".previous")  # keep the last run's log
    aligner = los_aligner(args.los, array.channels, args.freq, args.rate, len(packet()),
                          args.frames, args.duration)
    try:
        logger = los_logger(los_path)
    except RuntimeError as e:
        raise UserError(str(e)) from None
    tb = gr.top_block()
    subs = []
    for h, spec in enumerate(args.los):
        try:
            sub = zeromq.sub_msg_source(spec[4:], 100, False)
        except RuntimeError as e:
            raise UserError(f"--los {spec}: {' '.join(str(e).split())}") from None
        tb.msg_connect(sub, "out", aligner, f"host{h}")
        subs.append(sub)
    tb.msg_connect(aligner, "los", logger, "los")
    t_start = [time.monotonic()]
    state = {"why": None}

    def done():
        if aligner.error is not None:
            state["why"] = "error"
            return True
        if aligner.all_ended():
            state["why"] = "ended"
            return True
        if aligner.full:
            state["why"] = "limit"
            return True
        now = time.monotonic()
        heard = aligner.heard
        if args.start_timeout > 0 and now - t_start[0] > args.start_timeout and \
                any(t is None for t in heard):
            state["why"] = "silent"
            return True
        if all(t is not None for t in heard) and args.idle_stop > 0 and \
                now - max(heard) > args.idle_stop:
            state["why"] = "idle"
            return True
        if args.idle_stop > 0:
            # a host silent while others go on (it stopped without its end message)
            for h, t in enumerate(heard):
                if t is not None and now - t > args.idle_stop:
                    aligner.end_silent(h)
        return False

    def progress(elapsed):
        c = aligner.counts()
        print(f"arraycal estimate: {c['joint']} joint frames; per host received "
              f"{', '.join(map(str, c['received']))}, dropped "
              f"{', '.join(map(str, c['dropped']))}", flush=True)

    def started():
        t_start[0] = time.monotonic()
        print(f"arraycal estimate: listening to {len(args.los)} host(s): "
              f"{', '.join(args.los)}; joint LoS log {los_path}", flush=True)

    stopped = None           # the signal's exception, raised once the log is summed up
    try:
        run_flowgraph(tb, "arraycal estimate", on_started=started, until=done,
                      progress=progress)
    except (KeyboardInterrupt, Terminated) as e:
        stopped = e
    logger.close()
    if logger.count() == 0 and not stopped:
        # nothing joint was logged: leave OUT as it was (no header-only log), since every
        # way on from here is a refusal
        os.remove(los_path)
        if moved:
            os.replace(los_path + ".previous", los_path)
        if made_out and not os.listdir(args.out):
            os.rmdir(args.out)
    if aligner.error is not None:
        raise UserError(aligner.error)
    c = aligner.counts()
    if state["why"] == "silent":
        quiet = [s for s, t in zip(args.los, aligner.heard) if t is None]
        raise UserError(f"nothing from {', '.join(quiet)} within {args.start_timeout:g} s: "
                        + ("is its" if len(quiet) == 1 else "are their")
                        + " arraycal rx --los-sink running? (--start-timeout)")
    hosts = [{"los_sink": spec, "array_channels": format_channels(ch or ()),
              "frames_received": r, "frames_dropped": d, "frames_pending": p,
              "ended": e and not q}
             for spec, ch, r, d, p, e, q in zip(
                 args.los, aligner.al.channels if aligner.al else [None] * len(args.los),
                 c["received"], c["dropped"], c["pending"], c["ended"], c["silent"])]
    print(f"arraycal estimate: {'stopped' if stopped else 'done'}; {c['joint']} joint frames, "
          f"{logger.count()} logged; " + "; ".join(
              f"{h['los_sink']} (array channels {h['array_channels']}): {h['frames_received']} "
              f"received, {h['frames_dropped']} without a partner"
              + ("" if h["ended"] else ", no end message") for h in hosts), flush=True)
    if stopped:
        print(f"arraycal estimate: interrupted, no calibration made; the joint LoS log is "
              f"{los_path}", flush=True)
        raise stopped
    if c["joint"] == 0:
        gap = c.get("gap_s")
        raise UserError("no frame arrived from every host" + (
            f": the hosts' frame times differ by {gap:.3g} s (share the PPS and time the "
            "USRPs with --sync gps_time)" if gap is not None else ""))
    from ..calibration.pipeline import calibrate_from_los
    s = calibrate_from_los(los_path, args.array, args.tx_gnss, args.out, aligner.freq,
                           aligner.rate, rx_gnss=args.rx_gnss, rx_position=args.rx_position,
                           store=args.store, method=args.method, joint=args.joint_geometry,
                           extra_quality={"hosts": hosts, "joint_frames": c["joint"]})
    print_offsets(s["doc"])
    code = print_verdict(s["doc"])
    print(f"wrote {args.out}/calibration.json; "
          + (f"stored {s['store_path']}" if s["store_path"] else "not stored"))
    return code
