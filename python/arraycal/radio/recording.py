#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""SigMF multi-channel recordings: read (streaming, bounded memory) and write.

cf32_le samples, core:num_channels channels interleaved, core:sample_rate,
and per capture core:frequency and core:datetime (UTC of the capture's first
sample). A recorder starts a new capture after every gap (a USRP overflow):
the source below tags each capture start with rx_time, so the receive chain
re-anchors time there. Extension 'arraycal': gain_db, serials.
"""

import json
import os
from dataclasses import dataclass, field

import numpy as np
import pmt
from gnuradio import gr

from .. import timeutil
from ..errors import UserError
from ..fileio import atomic_write_json

DATATYPE = "cf32_le"
SAMPLE_BYTES = 8


@dataclass
class Capture:
    sample_start: int
    frequency: float
    utc: float


@dataclass
class Recording:
    meta_path: str
    data_path: str
    sample_rate: float
    num_channels: int
    captures: list
    samples: int                # whole samples per channel in the data file
    trailing_bytes: int         # bytes of an incomplete last sample group
    gain_db: float = None
    serials: list = field(default_factory=list)

    @property
    def frequency(self):
        return self.captures[0].frequency

    @property
    def duration(self):
        return self.samples / self.sample_rate


def _fail(path, what):
    raise UserError(f"recording {path}: {what}")


def open_recording(meta_path):
    """Read and check a SigMF recording's metadata (data file size included)."""
    meta_path = os.fspath(meta_path)
    if meta_path.endswith(".sigmf-data"):
        meta_path = meta_path[:-len(".sigmf-data")] + ".sigmf-meta"
    if not os.path.isfile(meta_path):
        _fail(meta_path, "not found")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except json.JSONDecodeError as e:
        _fail(meta_path, f"metadata is not valid JSON (line {e.lineno})")
    try:
        from sigmf import SigMFFile
        SigMFFile(metadata=meta, skip_checksum=True).validate()
    except Exception as e:  # sigmf raises its own ValidationError types
        _fail(meta_path, f"not valid SigMF ({' '.join(str(e).split())[:160]})")
    g = meta.get("global", {})
    dt = g.get("core:datatype")
    if dt != DATATYPE:
        _fail(meta_path, f"datatype {dt}; arraycal reads {DATATYPE} (complex float32)")
    rate = g.get("core:sample_rate")
    if not isinstance(rate, (int, float)) or not rate > 0:
        _fail(meta_path, "core:sample_rate missing or not positive")
    nch = int(g.get("core:num_channels", 1))
    if nch < 1:
        _fail(meta_path, "core:num_channels must be >= 1")
    caps = []
    for i, c in enumerate(meta.get("captures", [])):
        if "core:datetime" not in c:
            _fail(meta_path, f"capture {i} has no core:datetime (UTC of its first sample)")
        if "core:frequency" not in c:
            _fail(meta_path, f"capture {i} has no core:frequency")
        try:
            utc = timeutil.parse_utc(c["core:datetime"])
        except ValueError as e:
            _fail(meta_path, f"capture {i}: {e}")
        caps.append(Capture(int(c.get("core:sample_start", 0)), float(c["core:frequency"]), utc))
    if not caps:
        _fail(meta_path, "no captures")
    for i, (a, b) in enumerate(zip(caps, caps[1:]), 1):
        if b.sample_start <= a.sample_start:
            _fail(meta_path, f"capture {i} starts at sample {b.sample_start}, not after "
                             f"capture {i - 1} (sample {a.sample_start}): SigMF captures "
                             "start at increasing samples")
    freqs = sorted({c.frequency for c in caps})
    if len(freqs) > 1:
        _fail(meta_path, f"captures at {len(freqs)} frequencies "
                         f"({', '.join(f'{f / 1e6:g}' for f in freqs)} MHz: the receiver was "
                         "retuned); calibrate one frequency at a time")
    data_path = meta_path[:-len(".sigmf-meta")] + ".sigmf-data"
    if not os.path.isfile(data_path):
        _fail(meta_path, f"data file {os.path.basename(data_path)} not found")
    size = os.path.getsize(data_path) - int(g.get("core:offset", 0) or 0)
    group = SAMPLE_BYTES * nch
    samples, trailing = divmod(max(0, size), group)
    if caps[-1].sample_start >= samples:
        _fail(meta_path, f"capture at sample {caps[-1].sample_start} starts beyond the data "
                         f"({samples} samples per channel)")
    return Recording(meta_path, data_path, float(rate), nch, caps, samples, trailing,
                     g.get("arraycal:gain_db"), list(g.get("arraycal:serials") or []))


class sigmf_source(gr.sync_block):
    """Streams a multi-channel SigMF recording, rx_time-tagged at every capture.

    rx_time is the capture's core:datetime (UTC): give the receive chain a
    GPS - rx_time offset of the leap seconds. Reads in bounded chunks; an
    incomplete last sample group (a truncated file) is ignored, and
    `truncated` says so.
    """

    def __init__(self, recording, progress=None):
        rec = recording if isinstance(recording, Recording) else open_recording(recording)
        gr.sync_block.__init__(self, name="sigmf_source", in_sig=None,
                               out_sig=[np.complex64] * rec.num_channels)
        self.rec = rec
        self._f = open(rec.data_path, "rb")
        self._f.seek(0)
        self._pos = 0
        self.progress = progress
        self.truncated = rec.trailing_bytes > 0
        self._key = pmt.intern("rx_time")
        self._caps = list(rec.captures)
        for c in range(rec.num_channels):
            self.set_min_output_buffer(c, 1 << 16)

    def work(self, input_items, output_items):
        n = min(len(output_items[0]), self.rec.samples - self._pos)
        if n <= 0:
            return -1  # WORK_DONE
        nch = self.rec.num_channels
        data = np.fromfile(self._f, dtype=np.complex64, count=n * nch)
        if data.size < n * nch:  # the file shrank under us
            n = data.size // nch
            if n == 0:
                return -1
            data = data[:n * nch]
        data = data.reshape(n, nch)
        for c in range(nch):
            output_items[c][:n] = data[:, c]
        while self._caps and self._caps[0].sample_start < self._pos + n:
            cap = self._caps.pop(0)
            whole = int(cap.utc // 1)
            t = pmt.make_tuple(pmt.from_uint64(whole), pmt.from_double(cap.utc - whole))
            for c in range(nch):
                self.add_item_tag(c, cap.sample_start, self._key, t)
        self._pos += n
        if self.progress:
            self.progress(self._pos)
        return n

    def stop(self):
        self._f.close()
        return True


class RecordingWriter:
    """Writes a SigMF recording while samples arrive (arraycal rx, simulations).

    Samples are appended to the data file; the metadata file is rewritten
    atomically at every new capture and at close, so a crash leaves a valid
    recording of everything written so far.
    """

    def __init__(self, base, sample_rate, num_channels, frequency, gain_db=None, serials=(),
                 description="", hw=""):
        base = os.fspath(base)
        for suffix in (".sigmf-meta", ".sigmf-data", ".sigmf"):
            if base.endswith(suffix):
                base = base[:-len(suffix)]
        self.meta_path, self.data_path = base + ".sigmf-meta", base + ".sigmf-data"
        self.rate, self.nch, self.freq = float(sample_rate), int(num_channels), float(frequency)
        self.captures = []
        self.samples = 0
        g = {"core:datatype": DATATYPE, "core:sample_rate": self.rate,
             "core:num_channels": self.nch, "core:version": "1.2.0",
             "core:recorder": "gr-arraycal",
             "core:extensions": [{"name": "arraycal", "version": "1.0.0", "optional": True}]}
        if description:
            g["core:description"] = description
        if hw:
            g["core:hw"] = hw
        if gain_db is not None:
            g["arraycal:gain_db"] = float(gain_db)
        if serials:
            g["arraycal:serials"] = list(serials)
        self.glob = g
        self._f = open(self.data_path, "wb")

    def new_capture(self, utc, frequency=None):
        """The next samples start a capture whose first sample is at UTC `utc`.

        A capture that has no sample yet is replaced, not followed: SigMF
        captures must start at increasing samples (several rx_time tags on one
        sample, e.g. one per channel of a vector stream, give one capture)."""
        if frequency is not None:
            self.freq = float(frequency)
        cap = {"core:sample_start": self.samples, "core:frequency": self.freq,
               "core:datetime": timeutil.format_utc(utc)}
        if self.captures and self.captures[-1]["core:sample_start"] == self.samples:
            self.captures[-1] = cap
        else:
            self.captures.append(cap)
        self._write_meta()

    def capture_utc(self):
        """UTC of the next sample, from the current capture's start and the rate."""
        c = self.captures[-1]
        return timeutil.parse_utc(c["core:datetime"]) + \
            (self.samples - c["core:sample_start"]) / self.rate

    def write(self, samples):
        """samples: (num_channels, n) complex array."""
        s = np.asarray(samples, dtype=np.complex64)
        if s.ndim != 2 or s.shape[0] != self.nch:
            raise ValueError(f"need ({self.nch}, n) samples")
        if not self.captures:
            raise ValueError("start a capture before writing samples")
        self._f.write(np.ascontiguousarray(s.T).tobytes())
        self.samples += s.shape[1]

    def _write_meta(self):
        if not self._f.closed:
            self._f.flush()
        caps = self.captures
        if len(caps) > 1 and caps[-1]["core:sample_start"] >= self.samples:
            caps = caps[:-1]  # a capture without samples yet (or stopped before any)
        atomic_write_json(self.meta_path, {"global": self.glob, "captures": caps,
                                           "annotations": []})

    def close(self):
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._write_meta()
