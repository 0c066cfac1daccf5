#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The ``arraycal`` command: ``arraycal VERB [options]``.

Exit codes: 0 success, 2 bad input (one line on stderr saying what and
where, no traceback), 130 interrupted. Programming errors still show their
traceback: they are bugs to report.
"""

import argparse
import math
import signal
import sys
import threading
import time

from .errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as ONE line and exit code 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _eng_float(text):
    """A number in plain or engineering notation (1.3e9, 1.3G, 4M)."""
    from gnuradio.eng_notation import str_to_num
    try:
        return float(str_to_num(str(text)))
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


# ---------------------------------------------------------------- waveform
def _add_waveform(sub):
    p = sub.add_parser("waveform", help="write the calibration packet (float32 I/Q)",
                       description="Write the calibration packet as interleaved float32 I/Q "
                                   "(the thesis's WaveForm.bin format).")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--root", type=int, default=25, help="Zadoff-Chu root (default 25)")
    p.add_argument("--zc-length", type=int, default=139, help="ZC length (default 139)")
    p.add_argument("--repetitions", type=int, default=2, help="preamble copies (default 2)")
    p.add_argument("--payload", type=int, default=1000, help="QPSK symbols (default 1000)")
    p.add_argument("--seed", type=int, default=5489,
                   help="payload seed, MATLAB's default Mersenne Twister state (default 5489)")
    p.set_defaults(func=_cmd_waveform)


def _cmd_waveform(args):
    from . import waveform as wf
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
def _add_tx(sub):
    p = sub.add_parser(
        "tx", help="headless transmitter (UHD, or file/ZMQ sink)",
        description="Repeat the calibration packet into a USRP (runs apps/arraycal_tx.grc). "
                    "Stops cleanly on Ctrl-C / SIGTERM.")
    p.add_argument("--sink", default="uhd", help="uhd | file:PATH | zmq:ADDR (default uhd)")
    p.add_argument("--waveform", default="", help="packet file (default: built-in packet)")
    p.add_argument("--freq", type=_eng_float, default=1.3e9, help="center frequency, Hz")
    p.add_argument("--rate", type=_eng_float, default=4e6, help="sample rate, S/s")
    p.add_argument("--gain", type=_eng_float, default=50.0, help="TX gain, dB")
    p.add_argument("--antenna", default="TX/RX")
    p.add_argument("--serial", default="", help="USRP serial (B210: on the board label)")
    p.add_argument("--args", default="", help="extra UHD device args")
    p.add_argument("--clock-source", default="internal", help="internal | external | gpsdo")
    p.add_argument("--time-source", default="internal", help="internal | external | gpsdo")
    p.add_argument("--amplitude", type=_eng_float, default=0.7, help="DAC scale, (0, 1]")
    p.add_argument("--duration", type=_eng_float, default=0.0,
                   help="seconds to transmit, whole packets (default 0: until stopped)")
    p.add_argument("--realtime", action="store_true",
                   help="pace file/ZMQ sinks at the sample rate")
    p.set_defaults(func=_cmd_tx)


def run_flowgraph(tb, label, progress=None, period=10.0, on_started=None, until=None):
    """Run a top block until it finishes or SIGINT/SIGTERM arrives; stop it cleanly.

    on_started() runs once the handlers are in place and the flowgraph is
    running, so what it prints is a true readiness signal.
    """
    stop = threading.Event()
    done = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        tb.start()
        if on_started:
            on_started()
        waiter = threading.Thread(target=lambda: (tb.wait(), done.set()), daemon=True)
        waiter.start()
        t0 = time.monotonic()
        next_report = t0 + period
        while not done.is_set() and not stop.is_set():
            done.wait(0.2)
            if until is not None and until():
                stop.set()
            if progress and time.monotonic() >= next_report:
                progress(time.monotonic() - t0)
                next_report += period
        stopped_by_user = stop.is_set() and not (until is not None and until())
        if stop.is_set():
            if stopped_by_user:
                print(f"{label}: stopping", flush=True)
            tb.stop()
            done.wait()
        return time.monotonic() - t0, stopped_by_user
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _cmd_tx(args):
    from .tx import parse_sink, load_packet
    kind, target = parse_sink(args.sink)
    packet = load_packet(args.waveform)  # checks the file before any radio is touched
    if not args.rate > 0:
        raise UserError(f"sample rate must be > 0, not {args.rate}")
    if not 0 < args.amplitude <= 1:
        raise UserError(f"amplitude must be in (0, 1], not {args.amplitude}")
    if args.duration < 0:
        raise UserError("duration must be >= 0")
    from .flowgraphs.arraycal_tx import arraycal_tx
    try:
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

    elapsed, stopped = run_flowgraph(tb, "arraycal tx",
                                     progress if kind == "uhd" or args.realtime else None,
                                     on_started=started)
    print(f"arraycal tx: {'stopped' if stopped else 'done'} after {elapsed:.1f} s", flush=True)
    return 0


# ---------------------------------------------------------------- demo
def _add_demo(sub):
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
    p.add_argument("--freq", type=_eng_float, default=1.3e9, help="Hz (default 1.3e9)")
    p.add_argument("--rate", type=_eng_float, default=4e6, help="S/s (default 4e6)")
    p.add_argument("--duration", type=_eng_float, default=30.0, help="campaign seconds (30)")
    p.add_argument("--elements", type=int, default=2,
                   help="2: the thesis's pair; more: a half-wavelength line")
    p.add_argument("--method", choices=("fft", "apes"), default="fft")
    p.add_argument("--snr", type=_eng_float, default=20.0, help="per-sample SNR, dB")
    p.add_argument("--heading-error", type=_eng_float, default=0.0,
                   help="degrees of compass error in the array file")
    p.add_argument("--joint-geometry", action="store_true",
                   help="estimate the heading correction with the offsets")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="arraycal-demo", help="output directory")
    p.add_argument("--store", help="calibration store (default: the user store)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args):
    from .demo import comparison_table, run_demo
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
    if q.get("joint_geometry"):
        print(f"heading correction {q['heading_correction_deg']:+.2f} deg "
              f"(the array file was {args.heading_error:+g} deg off)")
    print(table)
    print(f"worst error: {worst[0]:.3f} deg, {worst[1]:.3f} dB")
    print(f"wrote {args.out}/calibration.json, los.csv, report.txt, figures"
          + (f"; stored {r['store_path']}" if r["store_path"] else ""))
    return 0


# ---------------------------------------------------------------- gnss
def _add_gnss(sub):
    p = sub.add_parser("gnss", help="u-blox receivers: log, config, convert",
                       description="u-blox GNSS receivers (ZED-F9P and friends).")
    gsub = p.add_subparsers(dest="gnss_verb", metavar="ACTION", parser_class=_Parser)
    gsub.required = True
    lg = gsub.add_parser(
        "log", help="record a receiver's UBX stream",
        description="Record the receiver's output exactly as sent (UBX, NMEA, RTCM3) into "
                    "DIR/gnss-ROLE-TIME.ubx, appended and flushed, with the host time of "
                    "each UBX frame in FILE.ubx.idx (CSV: offset,length,host_time,identity). "
                    "Survives unplugging: waits for the device and carries on. Ctrl-C stops.")
    lg.add_argument("--port", required=True, help="serial device, e.g. /dev/ttyACM0")
    lg.add_argument("--baud", type=int, default=38400)
    lg.add_argument("--out", required=True, help="directory for the session files")
    lg.add_argument("--role", choices=("tx", "rx"), default="rx")
    lg.add_argument("--duration", type=_eng_float, default=0.0,
                    help="seconds to log (default 0: until stopped)")
    lg.set_defaults(func=_cmd_gnss_log)
    cf = gsub.add_parser(
        "config", help="apply a u-center configuration file",
        description="Apply a u-center configuration file (CFG-VALGET lines, e.g. the thesis's "
                    "GNSS_Configuration.txt) as CFG-VALSET messages, waiting for each ACK.")
    cf.add_argument("file")
    cf.add_argument("--port", help="serial device (not needed with --dry-run)")
    cf.add_argument("--baud", type=int, default=38400)
    cf.add_argument("--layers", default="ram,bbr",
                    help="comma-separated: ram, bbr, flash (default ram,bbr)")
    cf.add_argument("--dry-run", action="store_true", help="print what would be sent")
    cf.set_defaults(func=_cmd_gnss_config)
    cv = gsub.add_parser(
        "convert", help="UBX log -> CSV of fixes",
        description="One row per navigation epoch: " + ", ".join(
            ["gps_time (GPS timescale, s since 1970)", "utc (ISO 8601)", "lat, lon (deg)",
             "height (m above the WGS84 ellipsoid)", "fix_type (0 none ... 3 3D, 4 GNSS+DR)",
             "carr_soln (0 none, 1 float, 2 fixed)", "h_acc, v_acc (m)", "num_sv",
             "hp (1: NAV-HPPOSLLH precision)", "role", "host_time (UTC, from the .idx)"]))
    cv.add_argument("file", help="UBX log (a .idx beside it adds host times)")
    cv.add_argument("--out", required=True, help="CSV file to write")
    cv.add_argument("--role", choices=("tx", "rx", ""), default="")
    cv.set_defaults(func=_cmd_gnss_convert)


def _cmd_gnss_log(args):
    from . import gnsslog
    gnsslog.check_output_dir(args.out)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    timer = None
    if args.duration > 0:
        timer = threading.Timer(args.duration, stop.set)
        timer.start()
    try:
        logger = gnsslog.run(args.port, args.baud, args.out, args.role, stop,
                             status=lambda m: print(f"arraycal gnss log: {m}", flush=True))
    finally:
        if timer:
            timer.cancel()
        for s, h in old.items():
            signal.signal(s, h)
    print(f"arraycal gnss log: stopped; {logger.status()}; {logger.reconnects} reconnects; "
          f"{logger.path}", flush=True)
    return 0


def _cmd_gnss_config(args):
    from . import ubxconfig
    values = ubxconfig.read_ucenter(args.file)
    layers = [x.strip().lower() for x in args.layers.split(",") if x.strip()]
    frames = ubxconfig.valset_frames(values, layers)
    if args.dry_run:
        print(f"{args.file}: {len(values)} keys in {len(frames)} CFG-VALSET messages "
              f"for layers {'+'.join(layers)}")
        for kid, val in values.items():
            print(f"  {ubxconfig.key_name(kid)} = {ubxconfig.decoded_value(kid, val)}")
        for i, fr in enumerate(frames):
            print(f"  message {i + 1}: {fr.hex(' ')}")
        return 0
    if not args.port:
        raise UserError("--port is needed to apply a configuration (or use --dry-run)")
    from .gnsslog import open_port
    try:
        dev = open_port(args.port, args.baud)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot open {args.port}: {e}") from None
    with dev:
        results = ubxconfig.apply(dev, frames)
    acks = sum(1 for _, r in results if r == "ack")
    for i, (_, r) in enumerate(results):
        if r != "ack":
            print(f"arraycal gnss config: message {i + 1} of {len(results)}: {r}")
    print(f"arraycal gnss config: {acks}/{len(results)} messages acknowledged "
          f"({len(values)} keys)")
    if acks != len(results):
        raise UserError(f"the receiver did not acknowledge {len(results) - acks} message(s)")
    return 0


def _cmd_gnss_convert(args):
    from . import gnss
    fixes, dec = gnss.read_ubx_file(args.file, args.role)
    try:
        gnss.write_csv(fixes, args.out)
    except OSError as e:
        raise UserError(f"cannot write '{args.out}': {e.strerror}") from None
    print(f"{args.file}: {dec.stats.summary()} -> {args.out}")
    return 0


# ---------------------------------------------------------------- process
def _triple(text):
    try:
        v = [float(x) for x in str(text).split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not three comma-separated numbers") from None
    if len(v) != 3:
        raise argparse.ArgumentTypeError(f"'{text}' is not three comma-separated numbers")
    return v


def _add_process(sub):
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
    p.add_argument("--freq", type=_eng_float, help="with --los: carrier frequency, Hz")
    p.add_argument("--rate", type=_eng_float, help="with --los: sample rate, S/s")
    p.add_argument("--array", required=True, help="array file (YAML)")
    p.add_argument("--tx-gnss", required=True, help="transmitter GNSS: UBX log or RTKLIB .pos")
    p.add_argument("--rx-gnss", help="the array's GNSS log (UBX or .pos); its median is used")
    p.add_argument("--rx-position", type=_triple, help="LAT,LON,HEIGHT of the array's GNSS "
                                                       "antenna, instead of --rx-gnss")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--method", choices=("fft", "apes"), default="fft")
    p.add_argument("--pick", choices=("strongest", "first", "predicted"), default="strongest")
    p.add_argument("--apes-len", type=int, default=200, help="APES filter length (default 200)")
    p.add_argument("--zero-pad", type=int, default=1,
                   help="CIR grid refinement (default 1: candidate lobes are refined; "
                        "the thesis used 10)")
    p.add_argument("--joint-geometry", action="store_true",
                   help="estimate the array heading correction with the offsets")
    p.add_argument("--fit-lever-arm", action="store_true",
                   help="with --joint-geometry, also the GNSS lever arm")
    p.add_argument("--min-fix-type", type=int, default=3)
    p.add_argument("--min-carr-soln", type=int, default=0, choices=(0, 1, 2),
                   help="0 any, 1 float or fixed RTK, 2 fixed RTK only")
    p.add_argument("--max-h-acc", type=float, default=0.5, help="m (default 0.5)")
    p.add_argument("--tx-offset", type=_triple, default=[0.0, 0.0, 0.0],
                   help="transmitter phase centre minus its GNSS antenna, E,N,U in m")
    p.add_argument("--min-snr", type=float, default=10.0, help="LoS tap SNR, dB (default 10)")
    p.add_argument("--store", help="calibration store directory (default: the user store)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_process)


def print_offsets(doc, file=None):
    print(f"{'element':>8s} {'channel':>7s} {'amp_dB':>8s} {'phase_deg':>10s} {'+-deg':>7s} "
          f"{'n':>8s}", file=file)
    for e in doc["elements"]:
        print(f"{e['id']:>8s} {e['channel']:7d} {e['amp_db']:8.3f} {e['phase_deg']:10.3f} "
              f"{e['phase_std_deg']:7.3f} {e['n']:8d}", file=file)


def _cmd_process(args):
    from . import geometry
    from .process import process
    q = geometry.QualityGate(args.min_fix_type, args.min_carr_soln, args.max_h_acc)
    if args.los:
        from .process import calibrate_from_los
        if not args.freq or not args.rate:
            raise UserError("--los needs --freq and --rate")
        s = calibrate_from_los(args.los, args.array, args.tx_gnss, args.out, args.freq,
                               args.rate, rx_gnss=args.rx_gnss, rx_position=args.rx_position,
                               joint=args.joint_geometry, fit_lever_arm=args.fit_lever_arm,
                               quality=q, tx_offset_enu=args.tx_offset, min_snr_db=args.min_snr,
                               store=args.store, method=args.method)
        print_offsets(s["doc"])
        print(f"wrote {args.out}/calibration.json, report.txt; stored {s['store_path']}")
        return 0
    s = process(args.iq, args.array, args.tx_gnss, args.out, rx_gnss=args.rx_gnss,
                rx_position=args.rx_position, method=args.method, pick=args.pick,
                apes_len=args.apes_len, zero_pad=args.zero_pad, joint=args.joint_geometry,
                fit_lever_arm=args.fit_lever_arm, quality=q, tx_offset_enu=args.tx_offset,
                min_snr_db=args.min_snr, store=args.store, progress=not args.quiet,
                log=lambda m: print(f"arraycal process: {m}", file=sys.stderr, flush=True))
    doc = s["doc"]
    q = doc["quality"]
    print(f"arraycal process: {q['frames_used']} of {q['frames_seen']} frames used, "
          f"{s['realtime_factor']:.1f}x real time")
    if q.get("joint_geometry"):
        print(f"heading correction {q['heading_correction_deg']:+.2f} deg")
    print_offsets(doc)
    print(f"wrote {args.out}/calibration.json, los.csv, report.txt; stored {s['store_path']}")
    return 0


def _add_report(sub):
    p = sub.add_parser("report", help="(re)write the report of a process output directory",
                       description="Regenerate report.txt and the figures from OUT "
                                   "(calibration.json, frames.npz, array.yaml).")
    p.add_argument("dir")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args):
    from .process import regenerate_report
    doc = regenerate_report(args.dir)
    print(f"wrote {args.dir}/report.txt and figures ({doc['array']}, "
          f"{doc['freq_hz'] / 1e6:.3f} MHz)")
    return 0


# ---------------------------------------------------------------- cal
def _add_cal(sub):
    p = sub.add_parser("cal", help="the calibration store: list, show, export",
                       description="Stored calibrations (history kept, never overwritten).")
    csub = p.add_subparsers(dest="cal_verb", metavar="ACTION", parser_class=_Parser)
    csub.required = True
    for name, helptext in (("list", "list the stored calibrations"),
                           ("show", "show one calibration"),
                           ("export", "export one calibration")):
        c = csub.add_parser(name, help=helptext)
        c.add_argument("--store", help="store directory (default: the user store)")
        if name != "list":
            c.add_argument("ref", help="index from 'cal list', file name or path")
        if name == "export":
            c.add_argument("--format", choices=("json", "csv", "weights"), default="json",
                           help="weights: channel,re,im of the correction 1/offset")
            c.add_argument("--out", required=True)
        c.set_defaults(func=_cmd_cal)


def _cmd_cal(args):
    from . import calstore
    from .fileio import atomic_write_json, atomic_write_text
    store = calstore.Store(args.store)
    if args.cal_verb == "list":
        entries = store.entries()
        if not entries:
            print(f"no calibration in {store.root}")
            return 0
        print(f"{'#':>3s} {'created':24s} {'array':16s} {'MHz':>10s} {'MS/s':>6s} "
              f"{'gain':>5s} {'method':6s} {'elements':>8s}  file")
        for i, (p, d) in enumerate(entries, 1):
            g = "" if d.get("gain_db") is None else f"{d['gain_db']:g}"
            print(f"{i:3d} {d['created'][:24]:24s} {d['array'][:16]:16s} "
                  f"{d['freq_hz'] / 1e6:10.3f} {d['sample_rate'] / 1e6:6g} {g:>5s} "
                  f"{str(d.get('method', ''))[:6]:6s} {len(d['elements']):8d}  "
                  f"{__import__('os').path.basename(p)}")
        return 0
    path, doc = store.find(args.ref)
    if args.cal_verb == "show":
        print(f"{path}\n{doc['array']} at {doc['freq_hz'] / 1e6:.3f} MHz, "
              f"{doc['sample_rate'] / 1e6:g} MS/s, gain {doc.get('gain_db')}, serials "
              f"{doc.get('device_serials') or '-'}; created {doc['created']}; method "
              f"{doc.get('method')}; reference {doc['reference']}")
        print_offsets(doc)
        return 0
    try:
        if args.format == "json":
            atomic_write_json(args.out, doc)
        elif args.format == "csv":
            rows = ["id,channel,re,im,amp_db,phase_deg,phase_std_deg,amp_std_db,n"]
            for e in doc["elements"]:
                rows.append(f"{e['id']},{e['channel']},{e['offset']['re']:.9g},"
                            f"{e['offset']['im']:.9g},{e['amp_db']:.6f},{e['phase_deg']:.6f},"
                            f"{e['phase_std_deg']:.6f},{e['amp_std_db']:.6f},{e['n']}")
            atomic_write_text(args.out, "\n".join(rows) + "\n")
        else:
            n = max(int(e["channel"]) for e in doc["elements"]) + 1
            w = calstore.weights(doc, n)
            atomic_write_text(args.out, "channel,re,im\n" + "".join(
                f"{c},{w[c].real:.9g},{w[c].imag:.9g}\n" for c in range(n)))
    except OSError as e:
        raise UserError(f"cannot write '{args.out}': {e.strerror}") from None
    print(f"exported {path} as {args.format} to {args.out}")
    return 0


# ---------------------------------------------------------------- rx
def _add_rx(sub):
    p = sub.add_parser(
        "rx", help="live receiver (USRP, or ZMQ / recording): LoS log, recording, calibration",
        description="Live receiver: N channels from a USRP (or a ZMQ socket / a SigMF "
                    "recording) through the receive chain; LoS log OUT/los.csv appended and "
                    "flushed, optional SigMF recording, offsets printed while transmitter "
                    "positions arrive (--tx-gnss zmq:ADDR) and a calibration at the end "
                    "(--array with --tx-gnss). Ctrl-C stops.")
    p.add_argument("--source", default="uhd", help="uhd | zmq:ADDR | file:REC.sigmf-meta")
    p.add_argument("--channels", type=int, default=2)
    p.add_argument("--rate", type=_eng_float, default=4e6)
    p.add_argument("--freq", type=_eng_float, default=1.3e9)
    p.add_argument("--gain", type=_eng_float, default=40.0)
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
    p.add_argument("--time-offset", type=_eng_float,
                   help="override GPS - rx_time (s); default follows --sync")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--record", action="store_true", help="also record OUT/recording.sigmf-*")
    p.add_argument("--duration", type=_eng_float, default=0.0,
                   help="stop after this many seconds of samples (default: Ctrl-C)")
    p.add_argument("--idle-stop", type=_eng_float, default=3.0,
                   help="zmq/file: stop when no sample came for this long (s)")
    p.add_argument("--method", choices=("fft", "apes"), default="fft")
    p.add_argument("--array", help="array file: offsets live and at the end")
    p.add_argument("--tx-gnss", help="zmq:ADDR of the transmitter's UBX, or its log (at the end)")
    p.add_argument("--rx-gnss", help="the array's GNSS log (for its position)")
    p.add_argument("--rx-position", type=_triple, help="LAT,LON,HEIGHT of the array antenna")
    p.add_argument("--store", help="calibration store (default: the user store)")
    p.set_defaults(func=_cmd_rx)


def _cmd_rx(args):
    import os
    from gnuradio import gr
    from . import timeutil
    from .arraycal_python import los_logger
    from .rx import offset_estimator, rx_source, sigmf_sink, ubx_pdu_decoder
    from .rx_chain import rx_chain
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
                         args.freq, args.gain, [args.serial] if args.serial else [], offset)
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
        from .process import calibrate_from_los
        s = calibrate_from_los(los_path, args.array, args.tx_gnss, args.out, args.freq,
                               args.rate, rx_gnss=args.rx_gnss, rx_position=args.rx_position,
                               store=args.store, method=args.method, gain_db=args.gain,
                               serials=[args.serial] if args.serial else [])
        print_offsets(s["doc"])
        print(f"wrote {args.out}/calibration.json; stored {s['store_path']}")
    return 0


def _read_next_pps(port, timeout=5.0):
    """Time of the next PPS from the receiver's TIM-TP messages."""
    from . import gnss, timeutil
    from .gnsslog import open_port
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


# ---------------------------------------------------------------- reciprocity
def _power_list(text):
    try:
        vals = [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of dBm") from None
    if not vals:
        raise argparse.ArgumentTypeError("no transmit power given")
    return vals


def _add_reciprocity(sub):
    p = sub.add_parser("reciprocity", help="reciprocity calibration of distributed nodes",
                       description="Bidirectional reciprocity calibration (Jiang et al.): "
                                   "simulate the paper's comparison, or run the calibrator "
                                   "that nodes send their CSI to over ZMQ.")
    rsub = p.add_subparsers(dest="rc_verb", metavar="SUBVERB", parser_class=_Parser)
    rsub.required = True
    s = rsub.add_parser("simulate", help="phase RMSE and beamforming gain per algorithm "
                                         "against transmit power (Fig. 5 / Fig. 7)",
                        description="Table I set-up (26 GHz, 120 kHz, 8 BS + 8 UE nodes, "
                                    "timing offsets U(-10, 10) ns): per transmit power and "
                                    "algorithm, the RMSE of the relative BS coefficient phases "
                                    "and the coherent beamforming gain over one node.")
    s.add_argument("--powers", type=_power_list, default=[-20, -10, 0, 10, 20],
                   help="transmit powers in dBm, comma-separated; write --powers=-10,0 when the first is negative (default -20,-10,0,10,20)")
    s.add_argument("--trials", type=int, default=10, help="channel realisations per power")
    s.add_argument("--bs", type=int, default=8)
    s.add_argument("--ue", type=int, default=8)
    s.add_argument("--timing-ns", type=float, default=10.0,
                   help="timing offsets U(-T, T) ns (0: none, where the baselines are exact)")
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(func=_cmd_reciprocity_simulate)
    c = rsub.add_parser("calibrate", help="calibrator: CSI from nodes over ZMQ in, "
                                          "coefficients out (log and ZMQ PUB)",
                        description="Binds a ZMQ PULL socket that node flowgraphs push CSI "
                                    "messages to (examples/reciprocity_zmq), estimates the "
                                    "coefficients for each complete calibration round, tracks "
                                    "them with the uplink pilots, appends every result to OUT "
                                    "(JSON lines) and publishes it on --publish. Ctrl-C stops.")
    c.add_argument("--listen", required=True, help="ZMQ address to bind, e.g. tcp://*:5600")
    c.add_argument("--bs", type=int, default=8)
    c.add_argument("--ue", type=int, default=8)
    c.add_argument("--spacing", type=_eng_float, default=120e3, help="subcarrier spacing, Hz")
    c.add_argument("--method", choices=("ml-tls", "argos", "argos-mean", "tls"), default="ml-tls")
    c.add_argument("--out", required=True, help="JSON-lines log of the coefficients")
    c.add_argument("--publish", help="ZMQ address to publish the coefficients on (PUB, bind)")
    c.add_argument("--count", type=int, default=0,
                   help="stop after this many results (calibrations and tracking updates)")
    c.add_argument("--idle-stop", type=_eng_float, default=0.0,
                   help="stop when no result came for this long after the first (s)")
    c.set_defaults(func=_cmd_reciprocity_calibrate)
    n = rsub.add_parser("node", help="one simulated node: CSI to the calibrator, coefficients back",
                        description="One node of the simulated Table I system (same --seed on "
                                    "every node: one world). Pushes its channel estimates to the "
                                    "calibrator (ZMQ PUSH, connect), logs the coefficients the "
                                    "calibrator publishes (ZMQ SUB) to OUT and stops once they "
                                    "cover its last pilot: then the calibrator has everything it "
                                    "sent. Start the calibrator first.")
    n.add_argument("--role", choices=("bs", "ue"), required=True)
    n.add_argument("--index", type=int, required=True)
    n.add_argument("--bs", type=int, default=8)
    n.add_argument("--ue", type=int, default=8)
    n.add_argument("--seed", type=int, default=1)
    n.add_argument("--power", type=float, default=10.0, help="transmit power, dBm")
    n.add_argument("--slots", type=int, default=200)
    n.add_argument("--pilot-period", type=int, default=2, help="slots between uplink pilots")
    n.add_argument("--connect", required=True, help="the calibrator's --listen address")
    n.add_argument("--subscribe", required=True, help="the calibrator's --publish address")
    n.add_argument("--out", required=True, help="JSON-lines log of the received coefficients")
    n.add_argument("--timeout", type=_eng_float, default=120.0,
                   help="give up when the coefficients have not come within this many seconds")
    n.set_defaults(func=_cmd_reciprocity_node)


def _cmd_reciprocity_simulate(args):
    from . import reciprocity as rc
    if args.trials < 1 or args.bs < 2 or args.ue < 1:
        raise UserError("need --trials >= 1, --bs >= 2 and --ue >= 1")
    sim = rc.ReciprocitySim(M=args.bs, N=args.ue, timing_ns=args.timing_ns, seed=args.seed)
    bar = _progress_bar(len(args.powers) * args.trials, "trials")
    rows = rc.compare(sim, args.powers, args.trials, progress=bar.update)
    bar.close()
    ideal = rows[0][4]
    print(f"{args.bs} BS x {args.ue} UE nodes, {sim.fc / 1e9:g} GHz, {sim.df / 1e3:g} kHz, "
          f"{sim.pilots} comb pilots, timing offsets U(-{args.timing_ns:g}, {args.timing_ns:g}) ns, "
          f"{args.trials} trials per power")
    print(f"beamforming gain: coherent joint transmission over the mean single node "
          f"(ideal {ideal:.1f} dB, non-coherent about {10 * math.log10(args.bs):.1f} dB)")
    names = list(rc.ALGORITHMS)
    print(f"{'power dBm':>9}  " + "  ".join(f"{n + ' deg':>13}" for n in names) + "  "
          + "  ".join(f"{n + ' dB':>12}" for n in names))
    for p in args.powers:
        r = {row[1]: row for row in rows if row[0] == p}
        print(f"{p:9.1f}  " + "  ".join(f"{r[n][2]:13.3f}" for n in names) + "  "
              + "  ".join(f"{r[n][3]:12.2f}" for n in names))
    return 0


def _progress_bar(total, unit):
    try:
        from tqdm import tqdm
        return tqdm(total=total, unit=unit, file=sys.stderr, leave=False,
                    disable=not sys.stderr.isatty())
    except ImportError:                      # pragma: no cover - tqdm is a dependency
        class _Nothing:
            def update(self, n=1):
                pass

            def close(self):
                pass
        return _Nothing()


def _cmd_reciprocity_calibrate(args):
    from gnuradio import gr, zeromq
    from .reciprocity_blocks import reciprocity_calibrator, reciprocity_logger, reciprocity_tracker
    log = reciprocity_logger(args.out)       # first: it refuses a missing directory
    tb = gr.top_block()
    try:
        src = zeromq.pull_msg_source(args.listen, 100, True)
        pub = zeromq.pub_msg_sink(args.publish, 100, True) if args.publish else None
    except RuntimeError as e:
        raise UserError(f"ZMQ: {' '.join(str(e).split())}") from None
    cal = reciprocity_calibrator(args.bs, args.ue, args.spacing, args.method)
    trk = reciprocity_tracker(args.bs, args.ue)
    tb.msg_connect(src, "out", cal, "csi")
    tb.msg_connect(src, "out", trk, "csi")
    tb.msg_connect(cal, "calib", trk, "calib")
    for blk in (cal, trk):
        tb.msg_connect(blk, "calib", log, "calib")
        if pub is not None:
            tb.msg_connect(blk, "calib", pub, "in")
    state = {"count": -1, "since": time.monotonic()}

    def until():
        if args.count and log.count >= args.count:
            return True
        if log.count != state["count"]:
            state["count"], state["since"] = log.count, time.monotonic()
        elif args.idle_stop > 0 and log.count > 0 and \
                time.monotonic() - state["since"] > args.idle_stop:
            return True
        return False

    def started():
        print(f"arraycal reciprocity calibrate: listening on {args.listen} for "
              f"{args.bs} BS x {args.ue} UE nodes, log {args.out}"
              + (f", publishing on {args.publish}" if args.publish else ""), flush=True)

    def progress(elapsed):
        print(f"arraycal reciprocity calibrate: {cal.seq} calibrations, {trk.seq} tracking "
              f"updates, {cal.dropped + trk.dropped} messages dropped", flush=True)

    run_flowgraph(tb, "arraycal reciprocity calibrate", progress, period=10.0,
                  on_started=started, until=until)
    print(f"arraycal reciprocity calibrate: done; {cal.seq} calibrations, {trk.seq} tracking "
          f"updates, {log.count} logged, {cal.dropped + trk.dropped} messages dropped", flush=True)
    return 0


def _cmd_reciprocity_node(args):
    from gnuradio import gr, zeromq
    from .reciprocity_blocks import reciprocity_logger, reciprocity_node_sim
    if args.slots < 0 or args.pilot_period < 1:
        raise UserError("need --slots >= 0 and --pilot-period >= 1")
    node = reciprocity_node_sim(args.role, args.index, args.bs, args.ue, args.seed, args.power,
                                args.slots, args.pilot_period)
    log = reciprocity_logger(args.out)       # before any socket: it refuses a missing directory
    tb = gr.top_block()
    try:
        push = zeromq.push_msg_sink(args.connect, 100, False)
        sub = zeromq.sub_msg_source(args.subscribe, 100, False)
    except RuntimeError as e:
        raise UserError(f"ZMQ: {' '.join(str(e).split())}") from None
    tb.msg_connect(node, "csi", push, "in")
    tb.msg_connect(sub, "out", log, "calib")
    t_end = time.monotonic() + args.timeout
    state = {"timed_out": False}

    def until():
        if log.last_time is not None and log.last_time >= node.last_time - 1e-12:
            return True
        if time.monotonic() > t_end:
            state["timed_out"] = True
            return True
        return False

    label = f"arraycal reciprocity node {args.role}{args.index}"
    run_flowgraph(tb, label, None, on_started=lambda: print(
        f"{label}: pushing to {args.connect}, coefficients from {args.subscribe}", flush=True),
        until=until)
    if state["timed_out"]:
        raise UserError(f"no coefficients covering t={node.last_time:g} s from "
                        f"{args.subscribe} within {args.timeout:g} s ({node.sent} estimates sent, "
                        f"{log.count} results received); is the calibrator running?")
    print(f"{label}: {node.sent} estimates sent, {log.count} coefficient sets logged to {args.out}",
          flush=True)
    return 0


# ---------------------------------------------------------------- main
VERBS = [_add_waveform, _add_tx, _add_rx, _add_gnss, _add_process, _add_report, _add_cal,
         _add_demo, _add_reciprocity]


def build_parser():
    parser = _Parser(prog="arraycal",
                     description="In-situ calibration of antenna arrays with software radios.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True
    for add in VERBS:
        add(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    name = " ".join(v for v in (args.verb, getattr(args, "gnss_verb", None),
                                getattr(args, "cal_verb", None),
                                getattr(args, "rc_verb", None)) if v)
    try:
        return args.func(args) or 0
    except UserError as e:
        sys.stderr.write(f"arraycal {name}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"arraycal {name}: interrupted\n")
        return 130
    except BrokenPipeError:
        # output piped into head & co.: stop quietly, like other command-line tools
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
