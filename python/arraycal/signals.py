#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Ctrl-C and SIGTERM: a run stops cleanly, keeps nothing half-done, exits 130 / 143.

GNU Radio's top_block.wait() swallows KeyboardInterrupt (it stops the
flowgraph and returns as if it had finished), and SIGTERM's default action
kills the process without any clean-up. Here SIGINT stays KeyboardInterrupt
and SIGTERM raises Terminated in the main thread; run_to_end() stops the
flowgraph and lets either through, so no result of a cut-short run is
written or stored.
"""

import contextlib
import signal
import threading


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException like KeyboardInterrupt: not caught by 'except
    Exception')."""


EXIT_SIGINT = 128 + signal.SIGINT     # 130
EXIT_SIGTERM = 128 + signal.SIGTERM   # 143


def _raise_terminated(signum, frame):
    raise Terminated()


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


def run_to_end(tb, on_started=None):
    """tb.run(), except that Ctrl-C / SIGTERM stop the flowgraph and then propagate.

    on_started() runs once the flowgraph is running (a readiness line)."""
    tb.start()
    try:
        if on_started is not None:
            on_started()
        _wait(tb)
    except BaseException:
        tb.stop()
        # a second Ctrl-C while stopping must not leave the threads running
        while True:
            try:
                tb.wait()
                break
            except BaseException:
                continue
        raise


def _wait(tb):
    handle = getattr(tb, "handle_sigint", None)
    if handle is not None:
        tb.handle_sigint = False      # let KeyboardInterrupt through instead of returning
    try:
        tb.wait()
    finally:
        if handle is not None:
            tb.handle_sigint = handle
