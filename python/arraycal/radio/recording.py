#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""SigMF multi-channel recordings: read (streaming, bounded memory, in C++) and write.

Datatypes cf32_le, ci16_le and ci8, core:num_channels channels interleaved,
core:sample_rate, and per capture core:frequency and core:datetime (UTC of
the capture's first sample). Integers are complex float times their full
scale, 32767 (ci16) and 127 (ci8): UHD's sc16/sc8 wire formats, so a USRP's
fc32 stream recorded as ci16 (half the disk of cf32) reads back exactly.
core:offset is the sample index of the data file's first sample (all
indices absolute, as the SigMF spec says); a capture's core:header_bytes are
non-sample bytes in front of its samples (Non-Conforming Datasets, with
core:dataset naming the data file and core:trailing_bytes ignored at its end).

A recorder starts a new capture after every gap (a USRP overflow): the
source below tags each capture start with rx_time, so the receive chain
re-anchors time there. Extension 'arraycal': gain_db, serials.
"""

import json
import os
from dataclasses import dataclass, field

import numpy as np
from gnuradio import gr

from .. import timeutil
from ..errors import UserError
from ..fileio import atomic_write_json

DATATYPE = "cf32_le"
SAMPLE_BYTES = {"cf32_le": 8, "ci16_le": 4, "ci8": 2}   # one complex sample of one channel
FULL_SCALE = {"cf32_le": 1.0, "ci16_le": 32767.0, "ci8": 127.0}
_INT_TYPES = {"ci16_le": "<i2", "ci8": "i1"}


@dataclass
class Capture:
    sample_start: int           # absolute sample index (core:sample_start)
    frequency: float
    utc: float
    header_bytes: int = 0
    byte_offset: int = 0        # of its first sample in the data file
    samples: int = 0            # sample times in it


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
    datatype: str = DATATYPE
    offset: int = 0             # core:offset: absolute index of the file's first sample
    frequencies: list = field(default_factory=list)   # of all its captures (a retune: > 1)
    captures_in_file: int = 0   # all captures, selected or not

    @property
    def frequency(self):
        return self.captures[0].frequency

    @property
    def duration(self):
        return self.samples / self.sample_rate


FREQ_MATCH_HZ = 1.0   # a capture is at the frequency asked when within this (as the store)


def mhz(f):
    """A frequency in MHz as a person writes it: 1300, 2412.345678."""
    return f"{f / 1e6:.6f}".rstrip("0").rstrip(".")


def _fail(path, what):
    raise UserError(f"recording {path}: {what}")


def _uint(meta_path, where, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(meta_path, f"{where} must be a whole number >= 0, not {value!r}")
    return value


def open_recording(meta_path, frequency=None, only_if_retuned=False):
    """Read and check a SigMF recording's metadata (data file size included).

    A recording retuned to several frequencies (captures at different core:frequency)
    is calibrated one frequency at a time: `frequency` (Hz) selects its captures
    (within FREQ_MATCH_HZ; the others are skipped, their samples never read). Without
    it such a recording is refused with its frequencies and the option to choose
    (--freq). A frequency no capture has is refused. only_if_retuned: `frequency`
    selects only in a retuned recording, a recording at one frequency is read whatever
    it says (a block's centre-frequency parameter)."""
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
    except (UnicodeDecodeError, OSError) as e:
        _fail(meta_path, f"cannot read the metadata ({e})")
    if not isinstance(meta, dict):
        _fail(meta_path, "metadata is not a JSON object")
    try:
        from sigmf import SigMFFile
        SigMFFile(metadata=meta, skip_checksum=True).validate()
    except Exception as e:  # sigmf raises its own ValidationError types
        _fail(meta_path, f"not valid SigMF ({' '.join(str(e).split())[:160]})")
    g = meta.get("global", {})
    dt = g.get("core:datatype")
    if dt not in SAMPLE_BYTES:
        _fail(meta_path, f"datatype {dt}; arraycal reads {', '.join(SAMPLE_BYTES)} "
                         "(complex float32, int16, int8)")
    rate = g.get("core:sample_rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0 \
            or not np.isfinite(rate):
        _fail(meta_path, "core:sample_rate missing or not positive")
    nch = _uint(meta_path, "core:num_channels", g.get("core:num_channels", 1))
    if nch < 1:
        _fail(meta_path, "core:num_channels must be >= 1")
    offset = _uint(meta_path, "core:offset", g.get("core:offset", 0) or 0)
    caps = []
    for i, c in enumerate(meta.get("captures", [])):
        if "core:datetime" not in c:
            _fail(meta_path, f"capture {i} has no core:datetime (UTC of its first sample)")
        if "core:frequency" not in c:
            _fail(meta_path, f"capture {i} has no core:frequency")
        try:
            utc = timeutil.parse_utc(c["core:datetime"])
        except (ValueError, TypeError, OverflowError) as e:
            _fail(meta_path, f"capture {i}: {e}")
        start = _uint(meta_path, f"capture {i} core:sample_start", c.get("core:sample_start", 0))
        if start < offset:
            _fail(meta_path, f"capture {i} starts at sample {start}, before core:offset "
                             f"{offset} (the index of the data file's first sample)")
        hb = _uint(meta_path, f"capture {i} core:header_bytes", c.get("core:header_bytes", 0))
        caps.append(Capture(start, float(c["core:frequency"]), utc, hb))
    if not caps:
        _fail(meta_path, "no captures")
    for i, (a, b) in enumerate(zip(caps, caps[1:]), 1):
        if b.sample_start <= a.sample_start:
            _fail(meta_path, f"capture {i} starts at sample {b.sample_start}, not after "
                             f"capture {i - 1} (sample {a.sample_start}): SigMF captures "
                             "start at increasing samples")
    freqs = sorted({c.frequency for c in caps})
    listed = ", ".join(mhz(f) for f in freqs)
    if frequency is not None and (len(freqs) > 1 or not only_if_retuned):
        if not any(abs(f - frequency) <= FREQ_MATCH_HZ for f in freqs):
            _fail(meta_path, f"no capture at {mhz(frequency)} MHz (--freq {frequency:g}); "
                             f"its captures are at {listed} MHz")
    elif len(freqs) > 1:
        _fail(meta_path, f"captures at {len(freqs)} frequencies ({listed} MHz: the receiver "
                         "was retuned); calibrate one at a time: choose it with --freq HZ "
                         f"(e.g. --freq {freqs[0]:g})")
    dataset = g.get("core:dataset")
    if dataset:
        data_path = os.path.join(os.path.dirname(meta_path), os.path.basename(str(dataset)))
    else:
        data_path = meta_path[:-len(".sigmf-meta")] + ".sigmf-data"
    if not os.path.isfile(data_path):
        _fail(meta_path, f"data file {os.path.basename(data_path)} not found")
    group = SAMPLE_BYTES[dt] * nch
    end = os.path.getsize(data_path) - _uint(meta_path, "core:trailing_bytes",
                                             g.get("core:trailing_bytes", 0) or 0)
    # capture i's samples follow its header bytes; the headers of all captures so far
    # lie in front of it (SigMF spec, core:header_bytes)
    headers = 0
    for i, c in enumerate(caps):
        headers += c.header_bytes
        c.byte_offset = headers + (c.sample_start - offset) * group
        if i + 1 < len(caps):
            c.samples = caps[i + 1].sample_start - c.sample_start
            if c.byte_offset + c.samples * group > end:
                _fail(meta_path, f"the data file ends inside capture {i} (it should hold "
                                 f"{c.samples} samples from byte {c.byte_offset})")
    last = caps[-1]
    if last.byte_offset >= end:
        _fail(meta_path, f"capture at sample {last.sample_start} starts beyond the data "
                         f"(byte {last.byte_offset} of {max(0, end)})")
    last.samples, trailing = divmod(end - last.byte_offset, group)
    n_all = len(caps)
    if len(freqs) > 1:
        caps = [c for c in caps if abs(c.frequency - frequency) <= FREQ_MATCH_HZ]
        if caps[-1] is not last:
            trailing = 0   # the cut-off end is another frequency's
    samples = sum(c.samples for c in caps)
    if samples == 0:
        _fail(meta_path, "the data file holds no whole sample"
              + (f" at {mhz(frequency)} MHz" if len(freqs) > 1 else ""))
    return Recording(meta_path, data_path, float(rate), nch, caps, samples, trailing,
                     g.get("arraycal:gain_db"), list(g.get("arraycal:serials") or []), dt,
                     offset, freqs, n_all)


class _progress_tap(gr.sync_block):
    """Calls progress(samples so far) once per buffer (not per sample) and consumes it."""

    def __init__(self, progress):
        gr.sync_block.__init__(self, name="sigmf_progress", in_sig=[np.complex64],
                               out_sig=None)
        self.progress = progress

    def work(self, input_items, output_items):
        n = len(input_items[0])
        self.progress(self.nitems_read(0) + n)
        return n


class sigmf_source(gr.hier_block2):
    """Streams a multi-channel SigMF recording, rx_time-tagged at every capture.

    The C++ sigmf_file_source reads and converts (cf32_le, ci16_le, ci8); no
    Python runs per sample. rx_time is the capture's core:datetime (UTC): give
    the receive chain a GPS - rx_time offset of the leap seconds. An incomplete
    last sample group (a truncated file) is ignored, and `truncated` says so.
    progress(samples) is called once per buffer; it may block (back-pressure).
    """

    def __init__(self, recording, progress=None):
        rec = recording if isinstance(recording, Recording) else open_recording(recording)
        gr.hier_block2.__init__(self, "sigmf_source", gr.io_signature(0, 0, 0),
                                gr.io_signature(rec.num_channels, rec.num_channels,
                                                gr.sizeof_gr_complex))
        from ..arraycal_python import sigmf_file_source
        self.rec = rec
        self.truncated = rec.trailing_bytes > 0
        caps = [c for c in rec.captures if c.samples > 0]
        secs = [int(c.utc // 1) for c in caps]
        try:
            self.file = sigmf_file_source(rec.data_path, rec.datatype, rec.num_channels,
                                          [c.byte_offset for c in caps],
                                          [c.samples for c in caps], secs,
                                          [c.utc - s for c, s in zip(caps, secs)])
        except (RuntimeError, ValueError) as e:
            raise UserError(f"recording {rec.meta_path}: {e}") from None
        for c in range(rec.num_channels):
            self.file.set_min_output_buffer(c, 1 << 16)
            self.connect((self.file, c), (self, c))
        self.tap = None
        if progress:
            self.tap = _progress_tap(progress)
            self.connect((self.file, 0), self.tap)

    def samples_read(self):
        return self.file.samples_read()


class RecordingWriter:
    """Writes a SigMF recording while samples arrive (arraycal rx, simulations).

    Samples are appended to the data file; the metadata file is rewritten
    atomically at every new capture and at close, so a crash leaves a valid
    recording of everything written so far.
    """

    def __init__(self, base, sample_rate, num_channels, frequency, gain_db=None, serials=(),
                 description="", hw="", datatype=DATATYPE):
        base = os.fspath(base)
        for suffix in (".sigmf-meta", ".sigmf-data", ".sigmf"):
            if base.endswith(suffix):
                base = base[:-len(suffix)]
        self.meta_path, self.data_path = base + ".sigmf-meta", base + ".sigmf-data"
        self.rate, self.nch, self.freq = float(sample_rate), int(num_channels), float(frequency)
        if datatype not in SAMPLE_BYTES:
            raise ValueError(f"datatype {datatype}: use {', '.join(SAMPLE_BYTES)}")
        self.datatype = datatype
        self.captures = []
        self.samples = 0
        self.clipped = 0  # integer samples beyond full scale, saturated
        g = {"core:datatype": datatype, "core:sample_rate": self.rate,
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
        inter = np.ascontiguousarray(s.T)
        if self.datatype == DATATYPE:
            self._f.write(inter.tobytes())
        else:
            # full scale as UHD's wire formats; beyond it saturate (and count) rather than wrap
            lim = FULL_SCALE[self.datatype]
            x = inter.view(np.float32) * np.float32(lim)
            over = np.abs(x) > lim
            if over.any():
                self.clipped += int(over.sum())
                np.clip(x, -lim - 1, lim, out=x)
            self._f.write(np.rint(x).astype(_INT_TYPES[self.datatype]).tobytes())
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
