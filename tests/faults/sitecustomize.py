#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Fault injection for crash tests, kept out of the production code.

A test puts this directory on PYTHONPATH and sets ARRAYCAL_TEST_KILL_AFTER_FRAMES=N:
the `arraycal` process then SIGKILLs itself once its LoS logger has written N frames,
in the middle of the receive chain, as a power cut or the OOM killer would.
"""

import os

_N = int(os.environ.get("ARRAYCAL_TEST_KILL_AFTER_FRAMES", "0") or 0)

if _N:
    import signal

    from gnuradio.arraycal.calibration import pipeline

    _feed = pipeline._Feed.__call__

    def _call(self, pos):
        _feed(self, pos)
        if self.receiver is not None and self.receiver.logged() >= _N:
            os.kill(os.getpid(), signal.SIGKILL)

    pipeline._Feed.__call__ = _call
