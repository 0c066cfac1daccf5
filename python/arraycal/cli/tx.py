#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal waveform` and `arraycal tx`: the calibration packet and the headless transmitter."""

import time

from ..errors import UserError
from ..signals import Terminated, run_flowgraph
from .common import duration_s, float_range, frequency_hz, gain_db, int_range, sample_rate, seed


# ---------------------------------------------------------------- waveform
def add_waveform(sub):
    p = sub.add_parser("waveform", help="write the calibration packet (float32 I/Q)",
                       description="Write the calibration packet as interleaved float32 I/Q "
                                   "(the thesis's WaveForm.bin format).")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--root", type=int_range(1, 100000, "a ZC root"), default=25, help="Zadoff-Chu root (default 25)")
    p.add_argument("--zc-length", type=int_range(2, 100000, "a ZC length"), default=139, help="ZC length (default 139)")
    p.add_argument("--repetitions", type=int_range(1, 100, "a repetition count"), default=2, help="preamble copies (default 2)")
    p.add_argument("--payload", type=int_range(0, 10**6, "a payload length"), default=1000, help="QPSK symbols (default 1000)")
    p.add_argument("--seed", type=seed, default=5489,
                   help="payload seed, MATLAB's default Mersenne Twister state (default 5489)")
    p.set_defaults(func=_cmd_waveform)


def _cmd_waveform(args):
    from ..radio import waveform as wf
    try:
        spec = wf.WaveformSpec(args.root, args.zc_length, args.repetitions, args.payload,
                               args.seed)
    except ValueError as e:
        raise UserError(str(e)) from None
    x = wf.packet(spec)
    try:
        wf.write(args.out, x)
    except OSError as e:
        raise UserError(f"cannot write '{args.out}': {e.strerror}") from None
    print(f"wrote {args.out}: {len(x)} samples ({spec.repetitions} x ZC({spec.root}, "
          f"{spec.zc_length}) + {spec.payload_symbols} QPSK), interleaved float32 I/Q")
    return 0


# ---------------------------------------------------------------- tx
def add_tx(sub):
    p = sub.add_parser(
        "tx", help="headless transmitter (UHD, or file/ZMQ sink)",
        description="Repeat the calibration packet into a USRP (runs apps/arraycal_tx_uhd.grc, "
                    "or apps/arraycal_tx.grc for file and ZMQ sinks). "
                    "Stops cleanly on Ctrl-C / SIGTERM.")
    p.add_argument("--sink", default="uhd", help="uhd | file:PATH | zmq:ADDR (default uhd)")
    p.add_argument("--waveform", default="", help="packet file (default: built-in packet)")
    p.add_argument("--freq", type=frequency_hz, default=1.3e9, help="center frequency, Hz")
    p.add_argument("--rate", type=sample_rate, default=4e6, help="sample rate, S/s")
    p.add_argument("--gain", type=gain_db, default=50.0, help="TX gain, dB")
    p.add_argument("--antenna", default="TX/RX")
    p.add_argument("--serial", default="", help="USRP serial (B210: on the board label)")
    p.add_argument("--args", default="", help="extra UHD device args")
    p.add_argument("--clock-source", default="internal", help="internal | external | gpsdo")
    p.add_argument("--time-source", default="internal", help="internal | external | gpsdo")
    p.add_argument("--amplitude", type=float_range(0, 1, True, "an amplitude"), default=0.7, help="DAC scale, (0, 1]")
    p.add_argument("--duration", type=duration_s, default=0.0,
                   help="seconds to transmit, whole packets (default 0: until stopped; "
                        "Ctrl-C or SIGTERM end it after the packet being sent, exit 0)")
    p.add_argument("--realtime", action="store_true",
                   help="pace file/ZMQ sinks at the sample rate")
    p.set_defaults(func=_cmd_tx)




def _cmd_tx(args):
    from ..radio.tx import parse_sink, load_packet
    kind, target = parse_sink(args.sink)
    packet = load_packet(args.waveform)  # checks the file before any radio is touched
    if not args.rate > 0:
        raise UserError(f"sample rate must be > 0, not {args.rate}")
    if not 0 < args.amplitude <= 1:
        raise UserError(f"amplitude must be in (0, 1], not {args.amplitude}")
    if args.duration < 0:
        raise UserError("duration must be >= 0")
    try:
        if kind == "uhd":
            # the stock UHD: USRP Sink (apps/arraycal_tx_uhd.grc)
            from ..flowgraphs.arraycal_tx_uhd import arraycal_tx_uhd
            tb = arraycal_tx_uhd(samp_rate=args.rate, freq=args.freq, gain=args.gain,
                                 waveform=args.waveform, amplitude=args.amplitude,
                                 duration=args.duration, antenna=args.antenna,
                                 serial=args.serial, dev_args=args.args,
                                 clock_source=args.clock_source, time_source=args.time_source)
        else:
            from ..flowgraphs.arraycal_tx import arraycal_tx
            tb = arraycal_tx(samp_rate=args.rate, freq=args.freq, gain=args.gain,
                             sink=args.sink, waveform=args.waveform, amplitude=args.amplitude,
                             duration=args.duration, antenna=args.antenna, serial=args.serial,
                             dev_args=args.args, clock_source=args.clock_source,
                             time_source=args.time_source, realtime=int(args.realtime))
    except RuntimeError as e:
        # UHD: "No devices found for ----->..." and friends
        msg = " ".join(str(e).split())
        raise UserError(f"{kind} sink: {msg}") from None
    K = len(packet)
    where = {"uhd": f"USRP {args.serial or '(first found)'} at {args.freq / 1e6:.3f} MHz",
             "file": f"file {target}", "zmq": f"ZMQ {target}"}[kind]
    def started():
        print(f"arraycal tx: {K}-sample packet at {args.rate / 1e6:g} MS/s to {where}"
              + (f" for {args.duration:g} s" if args.duration else ", Ctrl-C to stop"),
              flush=True)

    def progress(elapsed):
        print(f"arraycal tx: {elapsed:.0f} s, ~{int(elapsed * args.rate / K)} packets",
              flush=True)

    source = tb.arraycal_packet_source_0

    def report(how, elapsed):
        sent = source.items_sent()
        print(f"arraycal tx: {how} after {elapsed:.1f} s, {sent // K} packets"
              + (f" and {sent % K} samples of one cut short by a second signal"
                 if sent % K else ""), flush=True)

    # a transmitter's end is its stop: a signal ends it at the end of the packet, normally
    # (exit 0, systemd's stop); a second one stops it at once (exit 130 / 143)
    t0 = time.monotonic()
    try:
        elapsed, stopped = run_flowgraph(
            tb, "arraycal tx", on_started=started, finish=source.finish_packet,
            progress=progress if kind == "uhd" or args.realtime else None)
    except (KeyboardInterrupt, Terminated):
        report("stopped", time.monotonic() - t0)
        raise
    report("stopped" if stopped else "done", elapsed)
    return 0
