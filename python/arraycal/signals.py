#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Ctrl-C and SIGTERM: a run stops cleanly, keeps nothing half-done, exits 130 / 143.

The one signal path of every command: SIGINT is KeyboardInterrupt and SIGTERM
raises Terminated (sigterm_raises, around a whole command); while a flowgraph
runs, run_flowgraph() takes both signals itself, stops the flowgraph (every
block's stop() runs: files closed and flushed) and then raises the same
exception. The command's main turns it into exit 130 / 143; what writes
results stages them (calibration.pipeline.staged), so nothing of a cut-short
run is written or stored.

GNU Radio's own top_block.wait() would swallow KeyboardInterrupt (stopping
the flowgraph and returning as if it had finished) and SIGTERM's default
action kills the process without any clean-up: neither is used.
"""

import contextlib
import signal
import threading
import time


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException like KeyboardInterrupt: not caught by 'except
    Exception')."""


EXIT_SIGINT = 128 + signal.SIGINT     # 130
EXIT_SIGTERM = 128 + signal.SIGTERM   # 143
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_terminated(signum, frame):
    raise Terminated()


def exception_for(signum):
    """The exception a signal becomes: KeyboardInterrupt (SIGINT), Terminated (SIGTERM)."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


@contextlib.contextmanager
def sigterm_raises():
    """Within: SIGTERM raises Terminated (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_flowgraph(tb, label=None, *, on_started=None, until=None, progress=None, period=10.0,
                  finish=None):
    """Run the top block tb to its end: the one runner of every flowgraph a command runs.

    The run ends when the flowgraph finishes, when until() (polled every 0.2 s)
    returns true, or on SIGINT / SIGTERM: the flowgraph is then stopped and
    waited for, and the signal raised as KeyboardInterrupt / Terminated. A
    second signal while stopping changes nothing (the stop is not cut short).

    finish: called on the first signal instead of stopping, to make the
    flowgraph end by itself soon (the transmitter: at the end of its packet);
    the run then returns normally, unless a second signal comes first (then
    the flowgraph is stopped at once and the signal raised).
    on_started() runs once the flowgraph runs and the handlers are in place
    (what it prints is a true readiness line); progress(elapsed) every period
    seconds. label, if given, prefixes the "stopping" line printed on a signal.
    An exception from a callback stops the flowgraph too, then propagates.
    Returns (seconds run, the signal that finish() answered, else 0).
    Outside the main thread no handler can be installed: signals are not taken.
    """
    got = []
    ended = threading.Event()

    def on_signal(signum, frame):
        got.append(signum)

    main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, on_signal) for s in _SIGNALS} if main else {}
    t0 = time.monotonic()
    try:
        tb.start()
        threading.Thread(target=lambda: (tb.wait(), ended.set()), daemon=True).start()
        try:
            answered = _watch(tb, got, ended, label, on_started, until, progress, period,
                              finish, t0)
        finally:
            if not ended.is_set():
                tb.stop()
            ended.wait()
        if len(got) > (1 if answered else 0):
            raise exception_for(got[0])
        return time.monotonic() - t0, answered
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _watch(tb, got, ended, label, on_started, until, progress, period, finish, t0):
    """Wait for the end, until(), or a signal; returns the signal finish() answered or 0."""
    if on_started is not None:
        on_started()
    next_report = t0 + period
    while not got and not ended.wait(0.2):
        if until is not None and until():
            return 0
        if progress is not None and time.monotonic() >= next_report:
            progress(time.monotonic() - t0)
            next_report += period
    if not got:
        return 0
    if label:
        print(f"{label}: stopping", flush=True)
    if finish is None:
        return 0
    finish()
    while len(got) == 1 and not ended.wait(0.2):
        pass
    return got[0]
