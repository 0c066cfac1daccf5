#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal gnss log`: record a u-blox receiver, losing nothing.

One log = DIR/NAME (by default gnss-ROLE-YYYYmmddTHHMMSSZ.ubx; `arraycal gnss
log` names it ROLE.ubx, what `arraycal process` reads) (the bytes exactly as the
receiver sent them: UBX, NMEA, RTCM3) and FILE.idx beside it, a CSV line per
complete UBX frame: byte offset, length, host UTC time of arrival, message.
Both are only appended to and flushed at every read, fsynced every second.
When the USB device disappears (unplug, receiver reset) the logger waits for
it and carries on in the same session.
"""

import os
import threading
import time

from . import ubx as gnss
from ..errors import UserError
from ..fileio import AppendLog

IDX_HEADER = "offset,length,host_time,identity"


def session_paths(out_dir, role, start_utc, name=None):
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start_utc))
    base = os.path.join(out_dir, name or f"gnss-{role or 'rx'}-{stamp}.ubx")
    return base, base + ".idx"


def open_port(port, baud):
    import serial
    return serial.Serial(port, baud, timeout=0.2)


class UbxLogger:
    """Reads a serial port (or anything with read()), writes the session files."""

    def __init__(self, out_dir, role="rx", start_utc=None, fsync_period=1.0, name=None):
        os.makedirs(out_dir, exist_ok=True)
        self.path, self.idx_path = session_paths(out_dir, role, start_utc or time.time(), name)
        self._raw = open(self.path, "ab")
        self._idx = AppendLog(self.idx_path, header=IDX_HEADER, fsync=False)
        self.decoder = gnss.UbxDecoder(role)
        # a resumed session continues at the end of the file
        self.decoder.framer.offset = self._raw.tell()
        self._fsync_period = fsync_period
        self._last_sync = time.monotonic()
        self.last_fix = None
        self.reconnects = 0
        self.bytes = 0

    def write(self, data, host_time=None):
        """Append received bytes; index the frames they complete."""
        if not data:
            return
        host_time = time.time() if host_time is None else host_time
        self._raw.write(data)
        self._raw.flush()
        self.bytes += len(data)
        for off, raw in self.decoder.framer.feed(data):
            msg = gnss.decode(raw)
            ident = getattr(msg, "identity", "?") if msg is not None else "?"
            self._idx.write(f"{off},{len(raw)},{host_time:.6f},{ident}")
            if msg is not None:
                for fix in self.decoder.assembler.add(msg, host_time):
                    self.last_fix = fix
        now = time.monotonic()
        if now - self._last_sync >= self._fsync_period:
            self.sync()
            self._last_sync = now

    def sync(self):
        os.fsync(self._raw.fileno())
        self._idx._f.flush()
        os.fsync(self._idx._f.fileno())

    def close(self):
        if not self._raw.closed:
            for fix in self.decoder.assembler.flush():
                self.last_fix = fix
            self.sync()
            self._raw.close()
            self._idx.close()

    def status(self):
        s = self.decoder.stats
        fx = self.last_fix
        where = (f"last fix type {fx.fix_type}, carrier {('none', 'float', 'fixed')[fx.carr_soln]}, "
                 f"h_acc {fx.h_acc:.3f} m, {fx.num_sv} SV" if fx else "no fix yet")
        return (f"{self.bytes} bytes, {s.frames} UBX frames, {s.fixes} fixes, "
                f"{s.corrupt} corrupt; {where}")


def run(port, baud, out_dir, role="rx", stop=None, status=None, status_period=10.0,
        open_fn=open_port, retry_period=1.0, on_data=None, name=None):
    """Log until `stop` is set; reopen the port whenever it goes away.

    status(text) gets progress lines; on_data(logger) runs after every write
    (for tests and front ends).
    """
    stop = stop or threading.Event()
    logger = UbxLogger(out_dir, role, name=name)
    dev = None
    next_status = time.monotonic() + status_period
    try:
        while not stop.is_set():
            if dev is None:
                try:
                    dev = open_fn(port, baud)
                    if status:
                        status(f"reading {port} at {baud} baud into {logger.path}")
                except (OSError, ValueError) as e:
                    if status and logger.reconnects == 0 and logger.bytes == 0:
                        status(f"waiting for {port}: {e}")
                    stop.wait(retry_period)
                    continue
            try:
                data = dev.read(4096)
            except Exception as e:  # serial.SerialException on unplug, OSError on pty close
                if status:
                    status(f"{port} went away ({type(e).__name__}); waiting for it to return")
                try:
                    dev.close()
                except Exception:
                    pass
                dev = None
                logger.reconnects += 1
                continue
            logger.write(data)
            if on_data and data:
                on_data(logger)
            if status and time.monotonic() >= next_status:
                status(logger.status())
                next_status += status_period
    finally:
        if dev is not None:
            try:
                dev.close()
            except Exception:
                pass
        logger.close()
    return logger


def check_output_dir(out_dir):
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create '{out_dir}': {e.strerror}") from None
    if not os.access(out_dir, os.W_OK):
        raise UserError(f"'{out_dir}' is not writable")

