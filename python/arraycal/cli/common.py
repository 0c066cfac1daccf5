#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""What every verb shares: the one-line-error parser, number types, the flowgraph runner."""

import argparse
import signal
import sys
import threading
import time

class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as ONE line and exit code 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def eng_float(text):
    """A number in plain or engineering notation (1.3e9, 1.3G, 4M)."""
    from gnuradio.eng_notation import str_to_num
    try:
        return float(str_to_num(str(text)))
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


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


def triple(text):
    try:
        v = [float(x) for x in str(text).split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not three comma-separated numbers") from None
    if len(v) != 3:
        raise argparse.ArgumentTypeError(f"'{text}' is not three comma-separated numbers")
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
