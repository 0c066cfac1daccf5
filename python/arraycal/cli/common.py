#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""What every verb shares: the one-line-error parser, number types, printing.

Flowgraphs run through signals.run_flowgraph (the one runner, the one signal path)."""

import argparse
import logging
import math
import re
import sys


def _shown_default(value):
    """A default as help shows it: 1.3e+09 rather than 1300000000.0, '' for empty."""
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (list, tuple)):
        text = ",".join(_shown_default(v) for v in value)
    elif value == "":
        text = "''"
    else:
        text = str(value)
    return text.replace("%", "%%")


def help_with_default(action):
    """The action's help with its default appended, unless there is nothing to add.

    Left as they are: positionals, flags (their default is "off"), options
    without a default (None: not given) and help that already names its default.
    """
    text = action.help or ""
    default = action.default
    if (not action.option_strings or default is None or default is argparse.SUPPRESS
            or action.nargs == 0 or "default" in text.lower()):
        return action.help
    value = _shown_default(default)
    if re.search(r"\(" + re.escape(value) + r"[ ,)]", text):      # "seconds (30)" says it
        return action.help
    shown = f"default: {value}"
    return f"{text} ({shown})" if text else shown


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as ONE line and exit code 2, and whose
    help shows every option's default (added here, once for all verbs).

    No abbreviated options: a documented option that is renamed must fail,
    not go on working as a prefix of the new name."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def _add_action(self, action):
        action.help = help_with_default(action)
        return super()._add_action(action)

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def add_logging_options(parser):
    """-v/--verbose (repeatable) and -q/--quiet, for the whole command."""
    parser.add_argument("-v", "--verbose", action="count", default=0, dest="log_verbose",
                        help="more log output: -v info, -vv debug")
    parser.add_argument("-q", "--quiet", action="count", default=0, dest="log_quiet",
                        help="less output: -q errors only and no progress bars")


def setup_logging(args):
    """Log level from -v/-q (warning by default), to stderr; returns the level."""
    level = logging.WARNING + 10 * (getattr(args, "log_quiet", 0) - getattr(args, "log_verbose", 0))
    level = min(max(level, logging.DEBUG), logging.ERROR)
    logging.basicConfig(level=level, format="arraycal: %(levelname)s: %(name)s: %(message)s",
                        force=True)
    if getattr(args, "log_quiet", 0) and hasattr(args, "quiet"):
        args.quiet = True          # the verbs' own --quiet: no progress bar
    return level


# ---- validated numbers: each option's type says what the program can use, so NaN, inf,
# 0, negative or absurdly large values are refused by the parser as one line, exit 2.

def _number(text):
    from gnuradio.eng_notation import str_to_num
    try:
        v = float(str_to_num(str(text).strip()))
    except (ValueError, TypeError, OverflowError, IndexError):   # IndexError: '' in GR 3.10
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return v


def eng_float(text):
    """A finite number in plain or engineering notation (1.3e9, 1.3G, 4M)."""
    return _number(text)


def float_range(lo, hi, lo_open=False, what="a number"):
    """A finite number in [lo, hi] ((lo, hi] with lo_open), engineering notation allowed."""
    def parse(text):
        v = _number(text)
        if v < lo or (lo_open and v == lo) or v > hi:
            raise argparse.ArgumentTypeError(
                f"'{text}': {what} must be in {'(' if lo_open else '['}{lo:g}, {hi:g}]")
        return v
    parse.__name__ = what
    return parse


def int_range(lo, hi, what="an integer"):
    """An integer in [lo, hi] (written plainly: 1e11 is refused, not rounded)."""
    def parse(text):
        try:
            v = int(str(text).strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"'{text}': {what} must be in [{lo}, {hi}]")
        return v
    parse.__name__ = what
    return parse


positive_float = float_range(0.0, 1e15, lo_open=True, what="a positive number")
nonneg_float = float_range(0.0, 1e15, what="a number >= 0")
frequency_hz = float_range(0.0, 100e9, lo_open=True, what="a frequency (Hz)")
sample_rate = float_range(0.0, 1e9, lo_open=True, what="a sample rate (S/s)")
gain_db = float_range(-100.0, 200.0, what="a gain (dB)")
snr_db = float_range(-100.0, 200.0, what="an SNR (dB)")
angle_deg = float_range(-360.0, 360.0, what="an angle (deg)")
# one year: beyond it a sample count would overflow what the flowgraph blocks take
duration_s = float_range(0.0, 366 * 86400.0, what="a duration (s)")
seconds = float_range(-366 * 86400.0, 366 * 86400.0, what="a time (s)")
seed = int_range(0, 2**32 - 1, what="a seed")
baud = int_range(300, 4_000_000, what="a baud rate")
node_count = int_range(1, 256, what="a node count")
node_index = int_range(0, 255, what="a node index")
count = int_range(0, 10**9, what="a count")
positive_count = int_range(1, 10**6, what="a count >= 1")
power_dbm = float_range(-200.0, 100.0, what="a power (dBm)")


def triple(text, bound=1e4):
    """Three finite comma-separated numbers (an E,N,U offset in m: within +-bound)."""
    try:
        v = [float(x) for x in str(text).split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not three comma-separated numbers") from None
    if len(v) != 3:
        raise argparse.ArgumentTypeError(f"'{text}' is not three comma-separated numbers")
    if not all(math.isfinite(x) and abs(x) <= bound for x in v):
        raise argparse.ArgumentTypeError(f"'{text}': each number must be finite and within "
                                         f"+-{bound:g}")
    return v


def position(text):
    """LAT,LON,HEIGHT: degrees within [-90, 90] and [-180, 180], metres within +-1e5."""
    try:
        v = [float(x) for x in str(text).split(",")]
    except ValueError:
        v = []
    if len(v) != 3 or not all(math.isfinite(x) for x in v):
        raise argparse.ArgumentTypeError(f"'{text}' is not LAT,LON,HEIGHT (three finite numbers)")
    lat, lon, h = v
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and -1e5 <= h <= 1e5):
        raise argparse.ArgumentTypeError(f"'{text}': latitude must be in [-90, 90] deg, "
                                         "longitude in [-180, 180] deg, height within +-1e5 m")
    return v


def print_offsets(doc, file=None):
    print(f"{'element':>8s} {'channel':>7s} {'amp_dB':>8s} {'phase_deg':>10s} {'+-deg':>7s} "
          f"{'n':>8s}", file=file)
    for e in doc["elements"]:
        print(f"{e['id']:>8s} {e['channel']:7d} {e['amp_db']:8.3f} {e['phase_deg']:10.3f} "
              f"{e['phase_std_deg']:7.3f} {e['n']:8d}", file=file)


def print_verdict(doc, file=None):
    """The verdict line, its reasons and the fitted corrections; returns the exit code."""
    from ..calibration.verdict import exit_code
    v = doc.get("verdict") or {"status": "unverified", "reasons": []}
    c = v.get("corrections") or {}
    fixes = []
    if c.get("heading_identified"):
        fixes.append(f"heading {c['heading_deg']:+.2f} +- {c['heading_std_deg']:.2f} deg")
    if c.get("time_identified"):
        fixes.append(f"radio-to-GNSS time {c['time_offset_s'] * 1e3:+.1f} +- "
                     f"{c['time_offset_std_s'] * 1e3:.1f} ms")
    if fixes:
        print("fitted and used: " + "; ".join(fixes), file=file)
    print(f"verdict: {v['status']}", file=file)
    for r in v.get("reasons", []):
        print(f"  - {r}", file=file)
    return exit_code(v["status"])


def progress_bar(total, unit):
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
