#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal rx`: the live receiver (UHD, ZMQ or a recording)."""

import argparse
import time

from ..errors import UserError
from ..signals import Terminated, run_flowgraph
from .common import (duration_s, frequency_hz, gain_db, int_range, position, print_offsets,
                     print_verdict, sample_rate, seconds)


# ---------------------------------------------------------------- rx
DEFAULT_RATE, DEFAULT_FREQ, DEFAULT_CHANNELS = 4e6, 1.3e9, 2


def add_rx(sub):
    p = sub.add_parser(
        "rx", help="live receiver (USRP, or ZMQ / recording): LoS log, recording, calibration",
        description="Live receiver: N channels from a USRP (or a ZMQ socket / a SigMF "
                    "recording) through the receive chain; LoS log OUT/los.csv appended and "
                    "flushed, optional SigMF recording, and with --array a calibration: "
                    "offsets printed while GNSS positions arrive (--tx-gnss zmq:ADDR, and the "
                    "array's position from --rx-gnss zmq:ADDR or FILE or --rx-position) and "
                    "OUT/calibration.json at the end (with GNSS logs: computed from them at "
                    "the end). Ctrl-C stops.")
    p.add_argument("--source", default="uhd", help="uhd | zmq:ADDR | file:REC.sigmf-meta")
    p.add_argument("--channels", type=int_range(1, 64, "a channel count"),
                   help=f"receive channels (default {DEFAULT_CHANNELS}; a recording's own)")
    p.add_argument("--rate", type=sample_rate,
                   help=f"sample rate (default {DEFAULT_RATE:g}; a recording's own)")
    p.add_argument("--freq", type=frequency_hz,
                   help=f"carrier (default {DEFAULT_FREQ:g}; a recording's own; of a "
                        "recording retuned to several: which one's captures to play)")
    p.add_argument("--gain", type=gain_db, default=40.0)
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
    p.add_argument("--time-offset", type=seconds,
                   help="override GPS - rx_time (s); default follows --sync")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--record", action="store_true", help="also record OUT/recording.sigmf-*")
    p.add_argument("--record-format", choices=("cf32", "ci16"), default="cf32",
                   help="--record samples: cf32 (complex float32, 8 bytes per sample and "
                        "channel) or ci16 (int16 I/Q at full scale 32767 as UHD's sc16: half "
                        "the disk, lossless for a USRP's 16-bit samples; beyond +-1.0 "
                        "saturates)")
    p.add_argument("--duration", type=duration_s, default=0.0,
                   help="stop after this many seconds of samples (default: Ctrl-C)")
    p.add_argument("--idle-stop", type=duration_s, default=3.0,
                   help="zmq/file: stop when no sample came for this long (s)")
    p.add_argument("--start-timeout", type=duration_s, default=30.0,
                   help="zmq/file: give up when no sample came this long after the start "
                        "(s, default 30; 0 waits for ever)")
    p.add_argument("--method", choices=("fft", "apes"), default="fft")
    p.add_argument("--array", help="array file: offsets live and at the end")
    p.add_argument("--tx-gnss", help="the transmitter's UBX: zmq:ADDR (live offsets) or its "
                                     "log file (read at the end)")
    p.add_argument("--rx-gnss", help="the array's GNSS for its position: zmq:ADDR or a log "
                                     "file (with a live --tx-gnss, read at the start)")
    p.add_argument("--rx-position", type=position, help="LAT,LON,HEIGHT of the array antenna")
    p.add_argument("--store", help="calibration store (default: the user store)")
    p.add_argument("--joint-geometry", action=argparse.BooleanOptionalAction, default=True,
                   help="fit the heading and the radio-to-GNSS time offset (default on)")
    p.add_argument("--los-sink", help="one host of several: also publish the LoS messages "
                                      "(batched, with the channel map) on a ZMQ PUB socket "
                                      "bound to zmq:ADDR, for arraycal estimate")
    p.add_argument("--array-channels", type=array_channel_list,
                   help="with --los-sink: the array channels (the array file's channel "
                        "numbers) of this host's channels 0..N-1, as 4-7 or 4,5,6,7 "
                        "(default 0..N-1)")
    p.set_defaults(func=_cmd_rx)


def array_channel_list(text):
    """--array-channels: distinct array channels, '4-7' or '4,5,6,7'."""
    from ..radio.multihost import parse_array_channels
    try:
        return parse_array_channels(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _resolve_stream(args):
    """Channels, rate and carrier: a recording's own, else the options or their defaults.

    An explicit option that contradicts the recording is refused: the chain
    would time the packets wrongly, the calibration would be filed under
    another frequency."""
    from ..radio.rx import parse_source
    kind, target = parse_source(args.source)
    if kind == "file":
        from ..radio.recording import open_recording
        # --freq chooses the captures of a recording retuned to several frequencies
        rec = open_recording(target, frequency=args.freq, only_if_retuned=True)
        for opt, given, own in (("--rate", args.rate, rec.sample_rate),
                                ("--freq", args.freq if len(rec.frequencies) == 1 else None,
                                 rec.frequency),
                                ("--channels", args.channels, rec.num_channels)):
            if given is not None and abs(given - own) > 1e-9 * max(1.0, abs(own)):
                raise UserError(f"{opt} {given:g} contradicts the recording {target} "
                                f"({own:g}); leave {opt} out to use the recording's")
        args.rate, args.freq, args.channels = rec.sample_rate, rec.frequency, rec.num_channels
    else:
        args.rate = DEFAULT_RATE if args.rate is None else args.rate
        args.freq = DEFAULT_FREQ if args.freq is None else args.freq
        args.channels = DEFAULT_CHANNELS if args.channels is None else args.channels
    if args.channels < 1:
        raise UserError("--channels must be at least 1")
    if not args.rate > 0 or not args.freq > 0:
        raise UserError("--rate and --freq must be positive")
    return kind


def _is_zmq(spec):
    return bool(spec) and spec.startswith("zmq:")


def _check_gnss(args):
    """What the calibration needs, checked before any sample is taken.

    Returns the array geometry (or None) and the array's position for a live
    estimate, if it comes from --rx-position or a log read now."""
    import os
    if not args.array:
        if args.tx_gnss or args.rx_gnss:
            raise UserError("--tx-gnss/--rx-gnss give a calibration only with --array")
        return None, None
    from ..calibration import geometry
    array = geometry.load_array(args.array)
    if not args.tx_gnss:
        raise UserError("--array needs --tx-gnss (zmq:ADDR or the transmitter's UBX log)")
    if not args.rx_gnss and args.rx_position is None:
        raise UserError("the array's position is needed for offsets: --rx-gnss zmq:ADDR or "
                        "FILE, or --rx-position LAT,LON,HEIGHT")
    if _is_zmq(args.rx_gnss) and not _is_zmq(args.tx_gnss):
        raise UserError("--rx-gnss zmq:ADDR needs a live --tx-gnss zmq:ADDR too "
                        "(or give both as log files)")
    origin = tuple(args.rx_position) if args.rx_position is not None else None
    if _is_zmq(args.tx_gnss) and args.rx_gnss and not _is_zmq(args.rx_gnss):
        from ..calibration.pipeline import read_gnss, median_position
        from ..gnss import ubx as gnss
        fixes, _ = read_gnss(args.rx_gnss, "rx")   # live offsets need it now
        good, _ = geometry.gate(gnss.require_fixes(fixes, args.rx_gnss), geometry.QualityGate())
        if not good:
            raise UserError(f"{args.rx_gnss}: all receiver fixes fail the quality gate")
        origin = median_position(good)
    for opt, path in (("--tx-gnss", args.tx_gnss), ("--rx-gnss", args.rx_gnss)):
        if path and not _is_zmq(path) and not os.path.isfile(path):
            if _is_zmq(args.tx_gnss):
                raise UserError(f"{opt} {path} not found")
            print(f"arraycal rx: note: {opt} {path} does not exist yet; it is read at the end "
                  "(it must be written while this runs)", flush=True)
    return array, origin


def _check_los_sink(args):
    """--los-sink and --array-channels: the host's channel map, checked at the start."""
    if args.array_channels is not None and not args.los_sink:
        raise UserError("--array-channels needs --los-sink (the map travels with the "
                        "published LoS messages)")
    if not args.los_sink:
        return
    if not _is_zmq(args.los_sink) or not args.los_sink[4:]:
        raise UserError(f"--los-sink '{args.los_sink}': use zmq:ADDR, e.g. "
                        "zmq:tcp://0.0.0.0:5560")
    if args.array_channels is None:
        args.array_channels = tuple(range(args.channels))
    if len(args.array_channels) != args.channels:
        raise UserError(f"--array-channels gives {len(args.array_channels)} array channel(s) "
                        f"for {args.channels} receive channel(s)")


def _cmd_rx(args):
    import os
    kind = _resolve_stream(args)
    _check_los_sink(args)
    array, origin = _check_gnss(args)
    from gnuradio import gr
    from ..radio.receiver import receiver
    from ..radio.rx import rx_source
    from ..radio.multihost import format_channels
    os.makedirs(args.out, exist_ok=True)
    next_pps = None
    if args.sync == "gps_time" and kind == "uhd":
        if not args.gnss_port:
            raise UserError("--sync gps_time needs --gnss-port (the TIM-TP of the next pulse)")
        def next_pps():   # read once the USRP is open: its set-up takes seconds
            return _read_next_pps(args.gnss_port)
    try:
        src = rx_source(args.source, args.channels, args.rate, args.freq, args.gain,
                        args.antenna, args.serial, args.args, args.clock_source,
                        args.time_source, args.sync, next_pps)
    except RuntimeError as e:
        raise UserError(f"{args.source} source: {' '.join(str(e).split())}") from None
    offset = src.time_offset() if args.time_offset is None else args.time_offset
    live = None
    if array is not None and _is_zmq(args.tx_gnss):
        from ..calibration.live import offset_estimator
        live = offset_estimator(array, args.freq, args.rate, 1000,
                                rx_position=",".join(map(repr, origin)) if origin else "")
    los_path = os.path.join(args.out, "los.csv")
    serials = [args.serial] if args.serial else []
    rx = receiver(args.channels, args.rate, los_path, gps_minus_rx_time_s=offset,
                  method=args.method, freq=args.freq, gain_db=args.gain, serials=serials,
                  record=os.path.join(args.out, "recording") if args.record else "",
                  record_format=args.record_format, live=live)
    tb = gr.top_block()
    for c in range(args.channels):
        tb.connect((src, c), (rx, c))
    gnss_inputs = _connect_gnss(tb, rx, args) if live is not None else []
    publisher = _publish_los(tb, rx, args) if args.los_sink else None
    limit = int(args.duration * args.rate) if args.duration > 0 else 0
    state = {"last": -1, "since": time.monotonic(), "start": time.monotonic(),
             "no_samples": False}

    def done():
        if not finished():
            return False
        if publisher is not None:
            publisher.end_and_flush()
        return True

    def finished():
        n = rx.samples_read()
        if limit and n >= limit:
            return True
        if n != state["last"]:
            state["last"], state["since"] = n, time.monotonic()
        elif kind != "uhd" and n > 0 and time.monotonic() - state["since"] > args.idle_stop:
            return True
        if n == 0 and args.start_timeout > 0 and \
                time.monotonic() - state["start"] > args.start_timeout:
            state["no_samples"] = True
            return True
        return False

    def progress(elapsed):
        st = rx.stats()
        line = (f"arraycal rx: {rx.samples_read() / args.rate:.1f} s of samples, "
                f"{st['frames']} frames, {st['misses']} missed")
        if live is not None:
            line += "; offsets " + (", ".join(
                f"{e.id} {e.phase_deg:+.1f} deg {e.amp_db:+.2f} dB" for e in live.last.elements)
                if live.last is not None else
                f"waiting for GNSS ({len(live.tx_fixes)} tx, {len(live.rx_fixes)} rx fixes)")
        print(line, flush=True)

    def started():
        state["start"] = time.monotonic()
        print(f"arraycal rx: {args.channels} channels from {args.source} at "
              f"{args.rate / 1e6:g} MS/s, {args.freq / 1e6:g} MHz, GPS - rx_time {offset:g} s, "
              f"LoS log {los_path}"
              + (f", LoS published on {args.los_sink} as array channels "
                 f"{format_channels(args.array_channels)}" if args.los_sink else "")
              + (", Ctrl-C to stop" if not limit else f", {args.duration:g} s"), flush=True)

    def ended(how):
        st = rx.stats()
        print(f"arraycal rx: {how}; {st['frames']} frames, {st['logged']} logged"
              + (f", {publisher.block.sent} published" if publisher is not None else ""),
              flush=True)

    try:
        run_flowgraph(tb, "arraycal rx", on_started=started, until=done, progress=progress)
    except (KeyboardInterrupt, Terminated):
        rx.close()
        ended("stopped")
        # interrupted: the LoS log is kept (flushed as it came), no calibration is made
        # from a cut-short run; `arraycal process --los` makes one from the log
        print(f"arraycal rx: interrupted, no calibration made; the LoS log is {los_path}",
              flush=True)
        raise
    rx.close()
    del gnss_inputs          # kept alive with the flowgraph until here
    if state["no_samples"]:
        raise UserError(f"no sample from {args.source} within {args.start_timeout:g} s: is the "
                        "sender running? (--start-timeout)")
    ended("done")
    if array is None:
        return 0
    if live is not None:
        return _write_live_calibration(args, array, live, serials)
    from ..calibration.pipeline import calibrate_from_los
    s = calibrate_from_los(los_path, args.array, args.tx_gnss, args.out, args.freq,
                           args.rate, rx_gnss=args.rx_gnss, rx_position=args.rx_position,
                           store=args.store, method=args.method, gain_db=args.gain,
                           joint=args.joint_geometry, serials=serials)
    print_offsets(s["doc"])
    code = print_verdict(s["doc"])
    print(f"wrote {args.out}/calibration.json; "
          + (f"stored {s['store_path']}" if s["store_path"] else "not stored"))
    return code


def _connect_gnss(tb, rx, args):
    """The live GNSS: each zmq:ADDR of --tx-gnss / --rx-gnss -> UBX decoder -> rx "gnss".
    Returns the blocks (to be kept alive while the flowgraph runs)."""
    from gnuradio import zeromq
    from ..radio.rx import ubx_pdu_decoder
    made = []
    for role, spec in (("tx", args.tx_gnss), ("rx", args.rx_gnss)):
        if not _is_zmq(spec):
            continue
        sub = zeromq.sub_msg_source(spec[4:], 100, False)
        dec = ubx_pdu_decoder(role)
        tb.msg_connect(sub, "out", dec, "pdus")
        tb.msg_connect(dec, "gnss", rx, "gnss")
        made += [sub, dec]
    return made


class _Publisher:
    """The host's LoS publisher and its ZMQ PUB sink; end_and_flush() lets the
    publisher take the LoS already queued for it, sends the end message and waits
    until the sink has handed everything to ZMQ (each at most flush_s), so the
    estimator gets it before the flowgraph stops. A PUB socket never waits for
    subscribers: a host goes on receiving whatever the estimator does."""

    def __init__(self, block, sink, flush_s=2.0):
        import pmt
        self.block, self.sink, self.flush_s = block, sink, flush_s
        self._los, self._in = pmt.intern("los"), pmt.intern("in")

    def _drain(self, blk, port):
        t_end = time.monotonic() + self.flush_s
        while blk.nmsgs(port) > 0 and time.monotonic() < t_end:
            time.sleep(0.01)

    def end_and_flush(self):
        self._drain(self.block.to_basic_block(), self._los)
        self.block.end()
        self._drain(self.sink, self._in)


def _publish_los(tb, rx, args):
    from gnuradio import zeromq
    from ..radio.multihost import los_publisher
    pub = los_publisher(args.array_channels, args.freq, args.rate)
    try:
        sink = zeromq.pub_msg_sink(args.los_sink[4:], 100, True)
    except RuntimeError as e:
        raise UserError(f"--los-sink {args.los_sink}: {' '.join(str(e).split())}") from None
    tb.msg_connect(rx, "los", pub, "los")
    tb.msg_connect(pub, "out", sink, "in")
    return _Publisher(pub, sink)


def _write_live_calibration(args, array, live, serials):
    """The live estimator's frames and GNSS track, calibrated at the end like any other:
    OUT/calibration.json, frames.npz, report (staged: swapped in whole), the store."""
    from ..calibration import pipeline
    with live.lock:
        track, until = live._track()
    if track is None:
        raise UserError(f"no calibration: {len(live.tx_fixes)} transmitter and "
                        f"{len(live.rx_fixes)} array fixes arrived over ZMQ, "
                        f"{live.est.frames_seen} frames (is the GNSS publisher running?)")
    live.est.tx_track = track
    s = pipeline.staged(lambda out_dir: pipeline.calibrate(
        live.est, array, sample_rate=args.rate, method=args.method, out_dir=out_dir,
        store=False, joint=args.joint_geometry, gain_db=args.gain, serials=serials, until=until,
        quality={"los_log": "los.csv", "tx_fixes": len(live.tx_fixes), "live": True}),
        args.out, [args.array], args.store)
    print_offsets(s["doc"])
    code = print_verdict(s["doc"])
    print(f"wrote {args.out}/calibration.json, report.txt; "
          + (f"stored {s['store_path']}" if s["store_path"] else "not stored"))
    return code


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
