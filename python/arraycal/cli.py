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


def run_flowgraph(tb, label, progress=None, period=10.0, on_started=None):
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
            if progress and time.monotonic() >= next_report:
                progress(time.monotonic() - t0)
                next_report += period
        if stop.is_set():
            print(f"{label}: stopping", flush=True)
            tb.stop()
            done.wait()
        return time.monotonic() - t0, stop.is_set()
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
    p = sub.add_parser("demo", help="the calibration on simulated data, no hardware",
                       description="Static two-element calibration through the real receive "
                                   "chain (ZC sync, Moose CFO, LS, CIR/LoS) on a simulated "
                                   "capture with known element offsets.")
    p.add_argument("--snr", type=_eng_float, default=20.0, help="per-sample SNR, dB")
    p.add_argument("--packets", type=int, default=400, help="packets to simulate")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args):
    import numpy as np
    import pmt
    from gnuradio import blocks, gr
    from . import waveform as wf
    from .arraycal_python import zc_sync, moose_cfo, ls_chanest, los_estimator

    rng = np.random.default_rng(args.seed)
    x = wf.packet().astype(np.complex128)
    K, fs = len(x), 4e6
    # two elements 0.155 m apart at 1.3 GHz, transmitter 8 m away at 30 deg
    lam = 299792458.0 / 1.3e9
    true = np.array([1.0, 0.8 * np.exp(1j * np.deg2rad(-47.0))])  # hardware offsets
    d = 8.0 + np.array([0.0, 0.155 * np.sin(np.deg2rad(30.0))])
    beta = lam / (4 * np.pi * d) * np.exp(-2j * np.pi * d / lam)
    delays = d / 299792458.0 * fs
    kc = np.fft.fftfreq(K) * K
    chans = []
    for k in range(2):
        H = np.exp(-2j * np.pi * kc * delays[k] / K)
        period = np.fft.ifft(np.fft.fft(x) * H) * beta[k] * true[k] / abs(beta[0])
        s = np.tile(period, args.packets) * np.exp(2j * np.pi * 900.0 * np.arange(args.packets * K) / fs)
        s += np.sqrt(10 ** (-args.snr / 10) / 2) * (rng.standard_normal(s.size) + 1j * rng.standard_normal(s.size))
        chans.append(s.astype(np.complex64))
    tb = gr.top_block()
    sync = zc_sync(wf.preamble(), 2, 0.2, K, 4, 3, fs, 0.0, 2)
    cfo = moose_cfo(139, 2, fs, True)
    ls = ls_chanest(x.astype(np.complex64), 2)
    los = los_estimator(K, 2, fs)
    dbg = blocks.message_debug()
    for c in range(2):
        tb.connect(blocks.vector_source_c(chans[c].tolist()), (sync, c), (cfo, c), (ls, c), (los, c))
    tb.msg_connect(los, "los", dbg, "store")
    print(f"arraycal demo: {args.packets} packets, 2 elements, SNR {args.snr:g} dB, "
          "through zc_sync -> moose_cfo -> ls_chanest -> los_estimator", flush=True)
    tb.run()
    msgs = [pmt.to_python(dbg.get_message(i)) for i in range(dbg.num_messages())]
    alpha = np.array([m["los"] for m in msgs])
    ratio = (alpha[:, 1] / beta[1]) / (alpha[:, 0] / beta[0])  # remove the known geometry
    est = np.mean(np.abs(ratio)) * np.exp(1j * np.angle(np.mean(ratio / np.abs(ratio))))
    print(f"frames: {len(msgs)}, mean CFO {np.mean([m['cfo_hz'] for m in msgs]):.1f} Hz (true 900)")
    print("element  true amp_dB phase_deg   estimated amp_dB phase_deg")
    print(f"  1      {20*np.log10(abs(true[1])):8.2f} {np.angle(true[1], deg=True):9.2f}"
          f"             {20*np.log10(abs(est)):8.2f} {np.angle(est, deg=True):9.2f}")
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
    p.add_argument("--iq", required=True, help="recording, REC.sigmf-meta")
    p.add_argument("--array", required=True, help="array file (YAML)")
    p.add_argument("--tx-gnss", required=True, help="transmitter GNSS: UBX log or RTKLIB .pos")
    p.add_argument("--rx-gnss", help="the array's GNSS log (UBX or .pos); its median is used")
    p.add_argument("--rx-position", type=_triple, help="LAT,LON,HEIGHT of the array's GNSS "
                                                       "antenna, instead of --rx-gnss")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--method", choices=("fft", "apes"), default="fft")
    p.add_argument("--pick", choices=("strongest", "first", "predicted"), default="strongest")
    p.add_argument("--apes-len", type=int, default=200, help="APES filter length (default 200)")
    p.add_argument("--zero-pad", type=int, default=2, help="CIR grid refinement (default 2)")
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


# ---------------------------------------------------------------- main
VERBS = [_add_waveform, _add_tx, _add_gnss, _add_process, _add_report, _add_cal, _add_demo]


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
