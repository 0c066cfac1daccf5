#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal rx`: the live receiver (UHD, ZMQ or a recording)."""

import argparse
import time

from ..errors import UserError
from .common import eng_float, print_offsets, print_verdict, run_flowgraph, triple


# ---------------------------------------------------------------- rx
def add_rx(sub):
    p = sub.add_parser(
        "rx", help="live receiver (USRP, or ZMQ / recording): LoS log, recording, calibration",
        description="Live receiver: N channels from a USRP (or a ZMQ socket / a SigMF "
                    "recording) through the receive chain; LoS log OUT/los.csv appended and "
                    "flushed, optional SigMF recording, offsets printed while transmitter "
                    "positions arrive (--tx-gnss zmq:ADDR) and a calibration at the end "
                    "(--array with --tx-gnss). Ctrl-C stops.")
    p.add_argument("--source", default="uhd", help="uhd | zmq:ADDR | file:REC.sigmf-meta")
    p.add_argument("--channels", type=int, default=2)
    p.add_argument("--rate", type=eng_float, default=4e6)
    p.add_argument("--freq", type=eng_float, default=1.3e9)
    p.add_argument("--gain", type=eng_float, default=40.0)
    p.add_argument("--antenna", default="RX2")
    p.add_argument("--serial", default="")
    p.add_argument("--args", default="", help="extra UHD device args")
    p.add_argument("--clock-source", default="internal")
    p.add_argument("--time-source", default="internal")
    p.add_argument("--sync", default="pc_clock",
                   choices=("gps_time", "pc_clock", "pc_clock_next_pps", "none"),
                   help="how the USRP time is set (gps_time: from --gnss-port's TIM-TP at the "
                        "next PPS; the PPS must reach the USRP)")
    p.add_argument("--gnss-port", help="the array's u-blox receiver (TIM-TP for gps_time)")
    p.add_argument("--time-offset", type=eng_float,
                   help="override GPS - rx_time (s); default follows --sync")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--record", action="store_true", help="also record OUT/recording.sigmf-*")
    p.add_argument("--record-format", choices=("cf32", "ci16"), default="cf32",
                   help="--record samples: cf32 (complex float32, 8 bytes per sample and "
                        "channel) or ci16 (int16 I/Q at full scale 32767 as UHD's sc16: half "
                        "the disk, lossless for a USRP's 16-bit samples; beyond +-1.0 "
                        "saturates)")
    p.add_argument("--duration", type=eng_float, default=0.0,
                   help="stop after this many seconds of samples (default: Ctrl-C)")
    p.add_argument("--idle-stop", type=eng_float, default=3.0,
                   help="zmq/file: stop when no sample came for this long (s)")
    p.add_argument("--method", choices=("fft", "apes"), default="fft")
    p.add_argument("--array", help="array file: offsets live and at the end")
    p.add_argument("--tx-gnss", help="zmq:ADDR of the transmitter's UBX, or its log (at the end)")
    p.add_argument("--rx-gnss", help="the array's GNSS log (for its position)")
    p.add_argument("--rx-position", type=triple, help="LAT,LON,HEIGHT of the array antenna")
    p.add_argument("--store", help="calibration store (default: the user store)")
    p.add_argument("--joint-geometry", action=argparse.BooleanOptionalAction, default=True,
                   help="fit the heading and the radio-to-GNSS time offset (default on)")
    p.set_defaults(func=_cmd_rx)


def _cmd_rx(args):
    import os
    from gnuradio import gr
    from ..arraycal_python import los_logger
    from ..calibration.live import offset_estimator
    from ..radio.rx import rx_source, sigmf_sink, ubx_pdu_decoder
    from ..radio.rx_chain import rx_chain
    os.makedirs(args.out, exist_ok=True)
    next_pps = None
    if args.sync == "gps_time" and args.source.startswith("uhd"):
        if not args.gnss_port:
            raise UserError("--sync gps_time needs --gnss-port (the TIM-TP of the next pulse)")
        next_pps = _read_next_pps(args.gnss_port)
    try:
        src = rx_source(args.source, args.channels, args.rate, args.freq, args.gain,
                        args.antenna, args.serial, args.args, args.clock_source,
                        args.time_source, args.sync, next_pps)
    except RuntimeError as e:
        raise UserError(f"{args.source} source: {' '.join(str(e).split())}") from None
    offset = src.time_offset() if args.time_offset is None else args.time_offset
    chain = rx_chain(num_chans=args.channels, samp_rate=args.rate, time_offset=offset,
                     method=args.method)
    los_path = os.path.join(args.out, "los.csv")
    try:
        logger = los_logger(los_path)
    except RuntimeError as e:
        raise UserError(str(e)) from None
    tb = gr.top_block()
    for c in range(args.channels):
        tb.connect((src, c), (chain, c))
    tb.msg_connect(chain, "los", logger, "los")
    if args.record:
        rec = sigmf_sink(os.path.join(args.out, "recording"), args.channels, args.rate,
                         args.freq, args.gain, [args.serial] if args.serial else [], offset,
                         datatype={"cf32": "cf32_le", "ci16": "ci16_le"}[args.record_format])
        for c in range(args.channels):
            tb.connect((src, c), (rec, c))
    live = None
    if args.array and args.tx_gnss and args.tx_gnss.startswith("zmq:"):
        from gnuradio import zeromq
        live = offset_estimator(args.array, args.freq, args.rate, 1000,
                                rx_position=",".join(map(str, args.rx_position))
                                if args.rx_position else "")
        sub = zeromq.sub_msg_source(args.tx_gnss[4:], 100, False)
        dec = ubx_pdu_decoder("tx")
        tb.msg_connect(sub, "out", dec, "pdus")
        tb.msg_connect(dec, "gnss", live, "gnss")
        tb.msg_connect(chain, "los", live, "los")
    limit = int(args.duration * args.rate) if args.duration > 0 else 0
    state = {"last": -1, "since": time.monotonic()}

    def consumed():
        return chain.samples_read()

    def done():
        n = consumed()
        if limit and n >= limit:
            return True
        if n != state["last"]:
            state["last"], state["since"] = n, time.monotonic()
        elif src.kind != "uhd" and n > 0 and time.monotonic() - state["since"] > args.idle_stop:
            return True
        return False

    def progress(elapsed):
        st = chain.stats()
        line = (f"arraycal rx: {consumed() / args.rate:.1f} s of samples, {st['frames']} frames, "
                f"{st['misses']} missed")
        if live is not None and live.last is not None:
            line += "; offsets " + ", ".join(
                f"{e.id} {e.phase_deg:+.1f} deg {e.amp_db:+.2f} dB" for e in live.last.elements)
        print(line, flush=True)

    def started():
        print(f"arraycal rx: {args.channels} channels from {args.source} at "
              f"{args.rate / 1e6:g} MS/s, GPS - rx_time {offset:g} s, LoS log {los_path}"
              + (", Ctrl-C to stop" if not limit else f", {args.duration:g} s"), flush=True)

    elapsed, stopped = run_flowgraph(tb, "arraycal rx", progress, period=10.0,
                                     on_started=started, until=done)
    logger.close()
    st = chain.stats()
    print(f"arraycal rx: {'stopped' if stopped else 'done'}; {st['frames']} frames, "
          f"{logger.count()} logged", flush=True)
    if args.array and args.tx_gnss and not args.tx_gnss.startswith("zmq:"):
        from ..calibration.pipeline import calibrate_from_los
        s = calibrate_from_los(los_path, args.array, args.tx_gnss, args.out, args.freq,
                               args.rate, rx_gnss=args.rx_gnss, rx_position=args.rx_position,
                               store=args.store, method=args.method, gain_db=args.gain,
                               joint=args.joint_geometry,
                               serials=[args.serial] if args.serial else [])
        print_offsets(s["doc"])
        code = print_verdict(s["doc"])
        print(f"wrote {args.out}/calibration.json; "
              + (f"stored {s['store_path']}" if s["store_path"] else "not stored"))
        return code
    return 0


def _read_next_pps(port, timeout=5.0):
    """Time of the next PPS from the receiver's TIM-TP messages."""
    from ..gnss import ubx as gnss
    from .. import timeutil
    from ..gnss.log import open_port
    try:
        dev = open_port(port, 38400)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot open {port}: {e}") from None
    dec = gnss.UbxDecoder("rx")
    t_end = time.monotonic() + timeout
    with dev:
        while time.monotonic() < t_end:
            dec.feed(dev.read(1024))
            if dec.assembler.tim_tp:
                return timeutil.next_pps_from_tim_tp(dec.assembler.tim_tp[-1][1],
                                                     dec.stats.leap_seconds)
    raise UserError(f"no TIM-TP from {port} within {timeout:g} s: enable UBX-TIM-TP output")
