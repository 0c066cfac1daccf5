#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""GNU Radio message source of GNSS fixes from a u-blox receiver or a UBX log."""

import os
import threading
import time

import pmt
from gnuradio import gr

from . import ubx as gnss


def fix_to_pmt(fix):
    d = pmt.make_dict()
    for k, v in fix.message().items():
        if isinstance(v, str):
            val = pmt.intern(v)
        elif isinstance(v, int) and not isinstance(v, bool):
            val = pmt.from_long(v)
        else:
            val = pmt.from_double(float(v))
        d = pmt.dict_add(d, pmt.intern(k), val)
    return d


class gnss_source(gr.basic_block):
    """u-blox GNSS (serial port or UBX log file) -> "gnss" messages.

    source: a serial device (e.g. /dev/ttyACM0) or a UBX log.
    role: "tx" or "rx", copied into every message.
    realtime: play a log at the pace it was recorded (GPS time of the fixes);
    False sends it as fast as the flowgraph takes it.
    Each message is a dict: gps_time, lat, lon, height (ellipsoidal, m),
    fix_type, carr_soln (0 none, 1 float, 2 fixed), h_acc, v_acc (m), num_sv,
    role. A serial port that goes away is reopened when it comes back.
    """

    def __init__(self, source="", role="tx", baud=38400, realtime=False):
        gr.basic_block.__init__(self, name="gnss_source", in_sig=None, out_sig=None)
        self.source = source
        self.role = role
        self.baud = int(baud)
        self.realtime = bool(realtime)
        self.port = pmt.intern("gnss")
        self.message_port_register_out(self.port)
        self._stop = threading.Event()
        self._thread = None
        self.sent = 0
        self.decoder = gnss.UbxDecoder(role)
        self.done = threading.Event()

    def start(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gnss_source", daemon=True)
        self._thread.start()
        return True

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return True

    def _publish(self, fixes):
        for f in fixes:
            self.message_port_pub(self.port, fix_to_pmt(f))
            self.sent += 1

    def _run(self):
        try:
            if os.path.isfile(self.source):
                self._run_file()
            else:
                self._run_serial()
        finally:
            self.done.set()

    def _run_file(self):
        t0 = g0 = None
        with open(self.source, "rb") as f:
            while not self._stop.is_set():
                chunk = f.read(4096)
                if not chunk:
                    break
                for fix in self.decoder.feed(chunk):
                    if self.realtime:
                        if t0 is None:
                            t0, g0 = time.monotonic(), fix.gps_time
                        self._stop.wait(max(0.0, (fix.gps_time - g0) - (time.monotonic() - t0)))
                        if self._stop.is_set():
                            return
                    self._publish([fix])
        self._publish(self.decoder.finish())

    def _run_serial(self):
        from .log import open_port
        dev = None
        while not self._stop.is_set():
            if dev is None:
                try:
                    dev = open_port(self.source, self.baud)
                except (OSError, ValueError):
                    self._stop.wait(1.0)
                    continue
            try:
                data = dev.read(4096)
            except Exception:
                try:
                    dev.close()
                except Exception:
                    pass
                dev = None
                continue
            self._publish(self.decoder.feed(data, time.time()))
        if dev is not None:
            dev.close()
