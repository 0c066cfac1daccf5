#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal gnss log | config | convert`: u-blox receivers and their logs."""

import signal
import threading

from ..errors import UserError
from .common import Parser, eng_float


# ---------------------------------------------------------------- gnss
def add_gnss(sub):
    p = sub.add_parser("gnss", help="u-blox receivers: log, config, convert",
                       description="u-blox GNSS receivers (ZED-F9P and friends).")
    gsub = p.add_subparsers(dest="gnss_verb", metavar="ACTION", parser_class=Parser)
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
    lg.add_argument("--duration", type=eng_float, default=0.0,
                    help="seconds to log (default 0: until stopped)")
    lg.set_defaults(func=_cmd_gnss_log)
    cf = gsub.add_parser(
        "config", help="apply a u-center configuration file",
        description="Apply a u-center configuration file, waiting for each ACK: a u-blox 9 "
                    "file (MON-VER and CFG-VALGET lines, e.g. the thesis's "
                    "GNSS_Configuration.txt) as CFG-VALSET messages for --layers; a u-blox 8 "
                    "file (CFG-PRT - 06 00 ... lines) as those messages; a 'Config changes "
                    "format version 1.0' file ([set]/[del]) or a u-center 2 .ucf file (JSON "
                    "CFG-ITEM) as CFG-VALSET/CFG-VALDEL in the layers it names.")
    cf.add_argument("file")
    cf.add_argument("--port", help="serial device (not needed with --dry-run)")
    cf.add_argument("--baud", type=int, default=38400)
    cf.add_argument("--layers", default="ram,bbr",
                    help="comma-separated: ram, bbr, flash (default ram,bbr)")
    cf.add_argument("--dry-run", action="store_true", help="print what would be sent")
    cf.set_defaults(func=_cmd_gnss_config)
    cv = gsub.add_parser(
        "convert", help="UBX log or RTKLIB .pos -> CSV of fixes",
        description="One row per navigation epoch: " + ", ".join(
            ["gps_time (GPS timescale, s since 1970)", "utc (ISO 8601)", "lat, lon (deg)",
             "height (m above the WGS84 ellipsoid)", "fix_type (0 none ... 3 3D, 4 GNSS+DR)",
             "carr_soln (0 none, 1 float, 2 fixed)", "h_acc, v_acc (m)", "num_sv",
             "hp (1: NAV-HPPOSLLH precision)", "role", "host_time (UTC, from the .idx)"]))
    cv.add_argument("file", help="UBX log (NAV-PVT, or NAV-SOL/NAV-POSLLH of older receivers; "
                                 "a .idx beside it adds host times) or RTKLIB .pos (told "
                                 "apart by content); no fix in it: exit 2 with the reason")
    cv.add_argument("--out", required=True, help="CSV file to write")
    cv.add_argument("--role", choices=("tx", "rx", ""), default="")
    cv.set_defaults(func=_cmd_gnss_convert)


def _cmd_gnss_log(args):
    from ..gnss import log as gnsslog
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
    from ..gnss import config as ubxconfig
    cfg = ubxconfig.read_config(args.file)
    layers = [x.strip().lower() for x in args.layers.split(",") if x.strip()]
    ubxconfig.layer_mask(layers)
    frames = cfg.frames(layers)
    if args.dry_run:
        _print_config(cfg, layers, frames)
        return 0
    if not args.port:
        raise UserError("--port is needed to apply a configuration (or use --dry-run)")
    from ..gnss.log import open_port
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
          f"({_config_summary(cfg)})")
    if acks != len(results):
        raise UserError(f"the receiver did not acknowledge {len(results) - acks} message(s)")
    return 0


def _config_summary(cfg):
    if cfg.format == "gen9":
        return f"{len(cfg.values)} keys"
    if cfg.format == "m8":
        return f"{len(cfg.messages)} u-blox 8 messages"
    return f"{len(cfg.sets)} values set, {len(cfg.deletes)} deleted"


def _print_config(cfg, layers, frames):
    from ..gnss import config as ubxconfig
    where = f" (written by {cfg.receiver})" if cfg.receiver else ""
    if cfg.format == "gen9":
        print(f"{cfg.path}: u-blox 9 CFG-VALGET file{where}: {len(cfg.values)} keys in "
              f"{len(frames)} CFG-VALSET messages for layers {'+'.join(layers)}")
    elif cfg.format == "m8":
        print(f"{cfg.path}: u-blox 8 configuration{where}: {len(cfg.messages)} messages, "
              "sent as they are (--layers does not apply)")
        for name, c, i, p in cfg.messages:
            print(f"  {name} ({c:02X} {i:02X}, {len(p)} bytes)")
    else:
        kind = "config changes format 1.0" if cfg.format == "changes-1.0" else \
            "u-center 2 configuration (.ucf)"
        print(f"{cfg.path}: {kind}: {_config_summary(cfg)}, in "
              f"{len(frames)} messages, each in the layer the file names (--layers does not "
              "apply)")
    for layer, kid, val in cfg.items():
        kind, size = ubxconfig.key_type(kid)
        lay = f"{layer.upper() if layer != 'flash' else 'Flash':5s} " if layer else ""
        head = f"  {lay}{ubxconfig.display_name(kid)} (0x{kid:08x}, {kind}{size})"
        if val is None:
            print(f"{head} deleted")
        else:
            print(f"{head} = {ubxconfig.format_value(kid, val)}")
    for i, fr in enumerate(frames):
        print(f"  message {i + 1}: {fr.hex(' ')}")


def _cmd_gnss_convert(args):
    from ..gnss import reader, ubx as gnss
    fixes, summary, dec = reader.read_fixes(args.file, args.role)
    why = reader.no_fix_reason(args.file, fixes, dec)
    if why:
        raise UserError(f"{args.file}: no position fix ({summary}): {why}")
    try:
        gnss.write_csv(fixes, args.out)
    except OSError as e:
        raise UserError(f"cannot write '{args.out}': {e.strerror}") from None
    print(f"{args.file}: {summary} -> {args.out}")
    return 0
