#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""An array spread over several receiver hosts (docs/design.md, "Several receiver hosts").

Each host runs the receive chain on its own channels and publishes its LoS
messages over a gr-zeromq PUB socket (`arraycal rx --los-sink`); los_publisher
adds what the estimator needs to each message: which array channels the
host's channels are, its carrier and rate. One estimator (`arraycal
estimate`) subscribes to every host; los_aligner pairs the hosts' frames of
the same transmitted packet by their GPS time (the hosts share a 10 MHz and
PPS reference and GPS time, so one packet's frames lie within a fraction of
the packet on all hosts) and sends joint LoS messages, one column per array
channel, to the one LoS writer (los_logger) and from there into the one
calibration pipeline. A frame that some host lacks is left out of the joint
set and counted.
"""

import threading
import time

import numpy as np
import pmt
from gnuradio import gr

from . import los as los_msg

MAX_CHANNEL = 4095      # the LoS log's reader takes channels 0..4095

KEY_ARRAY_CHANNELS = pmt.intern("array_channels")
KEY_FREQ = pmt.intern("freq_hz")
KEY_RATE = pmt.intern("samp_rate")
KEY_END = pmt.intern("end")
KEY_FRAMES = pmt.intern("frames")
KEY_GPS_TIME = pmt.intern("gps_time")


def parse_array_channels(text):
    """'4-7', '4,5,6,7' or '0,2-3' -> (4, 5, 6, 7): distinct array channels, in order.

    Raises ValueError saying what is wrong."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        try:
            a = int(lo.strip(), 10)
            b = int(hi.strip(), 10) if dash else a
        except ValueError:
            raise ValueError(f"'{text}' is not a channel list like 4-7 or 4,5,6,7") from None
        if not (0 <= a <= MAX_CHANNEL and 0 <= b <= MAX_CHANNEL):
            raise ValueError(f"'{text}': array channels must be in [0, {MAX_CHANNEL}]")
        if b < a:
            raise ValueError(f"'{text}': the range {part} runs backwards")
        out.extend(range(a, b + 1))
    if len(set(out)) != len(out):
        dup = sorted({c for c in out if out.count(c) > 1})
        raise ValueError(f"'{text}': array channel {dup[0]} is given twice")
    return tuple(out)


def format_channels(channels):
    """(4, 5, 6, 7, 9) -> '4-7,9'."""
    chans, parts, i = sorted(channels), [], 0
    while i < len(chans):
        j = i
        while j + 1 < len(chans) and chans[j + 1] == chans[j] + 1:
            j += 1
        parts.append(str(chans[i]) if i == j else f"{chans[i]}-{chans[j]}")
        i = j + 1
    return ",".join(parts)


def _nearest(th, t):
    """Index of the nearest of the sorted times th to each of t, and the distance."""
    j = np.searchsorted(th, t)
    lo = np.clip(j - 1, 0, len(th) - 1)
    hi = np.clip(j, 0, len(th) - 1)
    pick = np.where(np.abs(th[lo] - t) <= np.abs(th[hi] - t), lo, hi)
    return pick, np.abs(th[pick] - t)


class los_publisher(gr.basic_block):
    """The host side: LoS messages in ("los"), batch LoS messages out ("out") for a
    ZMQ PUB Message Sink, with array_channels (u32vector, the array channel of each
    local channel), freq_hz and samp_rate added, and the gains referenced to the
    carrier phase at each frame's start.

    Why the reference: the chain's CFO correction runs its phase on from frame to
    frame, each host with its own estimates, so the hosts' common phases drift
    apart (within a host they cancel in the ratios, across hosts they would not).
    The correction's phase at frame i, sum of -2 pi cfo_j / rate times the samples
    from frame j to j + 1 over the earlier frames (frame starts from gps_time), is
    multiplied out again; what stays is each host's constant, which the
    calibration takes in with its LO's phase.

    end() sends the end-of-stream message ({end: #t, frames: uint64 sent,
    array_channels, freq_hz, samp_rate}); messages arriving after it are not
    sent (counted in after_end)."""

    def __init__(self, array_channels=(0, 1), freq_hz=1.3e9, samp_rate=4e6):
        gr.basic_block.__init__(self, name="los_publisher", in_sig=None, out_sig=None)
        self.channels = tuple(int(c) for c in array_channels)
        self.rate = float(samp_rate)
        self._extra = [(KEY_ARRAY_CHANNELS, pmt.init_u32vector(len(self.channels),
                                                               list(self.channels))),
                       (KEY_FREQ, pmt.from_double(float(freq_hz))),
                       (KEY_RATE, pmt.from_double(self.rate))]
        self.sent = 0
        self.after_end = 0
        self.bad = 0
        self.ended = False
        self._prev = None          # (gps_time, increment rad/sample, phase) of the last frame
        self._lock = threading.Lock()
        self.message_port_register_in(pmt.intern("los"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("los"), self._los)

    def _with_map(self, msg):
        for k, v in self._extra:
            msg = pmt.dict_add(msg, k, v)
        return msg

    def correction_phase(self, gps_time, cfo_hz):
        """The chain's CFO-correction phase at each frame start, from the first frame."""
        t = np.asarray(gps_time, float)
        w = -2 * np.pi * np.asarray(cfo_hz, float) / self.rate
        if self._prev is None:
            self._prev = (t[0], w[0], 0.0)
        t_prev, w_prev, ph_prev = self._prev
        steps = np.rint(np.diff(np.concatenate([[t_prev], t])) * self.rate)
        phase = ph_prev + np.cumsum(np.concatenate([[w_prev], w[:-1]]) * steps)
        self._prev = (t[-1], w[-1], float(np.remainder(phase[-1], 2 * np.pi)))
        return phase

    def _los(self, msg):
        try:
            f = los_msg.decode(msg)
        except los_msg.LosMessageError:
            self.bad += 1
            return
        with self._lock:
            n = len(f["gps_time"])
            if self.ended:
                self.after_end += n
                return
            rot = np.exp(-1j * self.correction_phase(f["gps_time"], f["cfo_hz"]))
            f["los"] = (f["los"] * rot[:, None]).astype(np.complex64)
            self.sent += n
            self.message_port_pub(pmt.intern("out"), self._with_map(encode(f)))

    def end(self):
        """Send the end-of-stream message (once)."""
        with self._lock:
            if self.ended:
                return
            self.ended = True
            d = pmt.dict_add(pmt.make_dict(), KEY_END, pmt.PMT_T)
            d = pmt.dict_add(d, KEY_FRAMES, pmt.from_uint64(self.sent))
            self.message_port_pub(pmt.intern("out"), self._with_map(d))


class AlignError(ValueError):
    """Hosts whose channel maps or settings contradict each other or the array file."""


class Aligner:
    """Pairs the frames of several hosts by GPS time (plain Python, used by los_aligner).

    add(h, frames, channels) takes a decoded LoS batch (radio.los.decode) of host
    h and its array channels; end(h) says host h sends no more. take() returns
    the joint frames that are final (every host has reported past them, or has
    ended) as a dict like decode()'s, with one column per array channel 0..max
    (a column no host gives is not valid), the first host's gps_time, seq and
    cfo_hz; or None. Two frames pair when their times differ by at most
    tolerance_s (los_aligner: a quarter packet; a host's frames are a packet
    apart, so a partner is unique, and hosts whose clocks disagree by a quarter
    to three quarters of a packet pair nothing rather than the wrong packets). dropped[h] counts host h's frames left out because
    another host has no frame of that packet.
    """

    def __init__(self, n_hosts, tolerance_s):
        self.n = int(n_hosts)
        self.tol = float(tolerance_s)
        self.buf = [None] * self.n
        self.channels = [None] * self.n
        self.last = [-np.inf] * self.n
        self.ended = [False] * self.n
        self.received = [0] * self.n
        self.dropped = [0] * self.n
        self.joint = 0
        self.gap_s = []          # nearest-partner time differences of unpaired frames

    def add(self, h, frames, channels):
        nch = frames["los"].shape[1]
        if len(channels) != nch:
            raise AlignError(f"says its {nch} channel(s) are array channels "
                             f"{format_channels(channels)} ({len(channels)} of them)")
        if self.channels[h] is None:
            for g, other in enumerate(self.channels):
                common = set(other or ()) & set(channels)
                if common:
                    raise AlignError(f"gives array channel {min(common)}, which host {g + 1} "
                                     "gives too (--array-channels)")
            self.channels[h] = tuple(channels)
        elif tuple(channels) != self.channels[h]:
            raise AlignError(f"changed its array channels from "
                             f"{format_channels(self.channels[h])} to "
                             f"{format_channels(channels)}")
        f = {k: np.asarray(frames[k]) for k in ("gps_time", "seq", "cfo_hz", "los", "delay_s",
                                                  "snr_db", "valid")}
        self.received[h] += len(f["gps_time"])
        if self.buf[h] is not None:
            f = {k: np.concatenate([self.buf[h][k], f[k]]) for k in f}
        if np.any(np.diff(f["gps_time"]) < 0):
            order = np.argsort(f["gps_time"], kind="stable")
            f = {k: v[order] for k, v in f.items()}
        self.buf[h] = f
        self.last[h] = max(self.last[h], float(f["gps_time"][-1]))

    def end(self, h):
        self.ended[h] = True

    def pending(self, h):
        return 0 if self.buf[h] is None else len(self.buf[h]["gps_time"])

    def take(self):
        if any(b is None and not e for b, e in zip(self.buf, self.ended)):
            return None      # a host not heard from yet: nothing is final
        if any(b is None for b in self.buf):
            # a host ended without a single frame: nothing pairs any more
            for h in range(self.n):
                if self.buf[h] is not None:
                    self.dropped[h] += self.pending(h)
                    self.buf[h] = self._cut(h, None)
            return None
        live = [self.last[h] for h in range(self.n) if not self.ended[h]]
        horizon = min(live) - self.tol if live else np.inf
        t0 = self.buf[0]["gps_time"]
        ref = np.flatnonzero(t0 <= horizon)
        rows = [ref]
        paired = np.ones(len(ref), bool)
        consumed = [np.zeros(self.pending(h), bool) for h in range(self.n)]
        consumed[0][ref] = True
        for h in range(1, self.n):
            th = self.buf[h]["gps_time"]
            if len(th) == 0:
                paired[:] = False
                rows.append(np.zeros(len(ref), int))
                continue
            j, dt = _nearest(th, t0[ref])
            ok = dt <= self.tol
            if (~ok).any():
                self.gap_s.extend(dt[~ok][:100].tolist())
            paired &= ok
            rows.append(j)
            # what no later frame of the first host can pair with any more
            consumed[h][j[ok]] = True
            consumed[h] |= th <= horizon - self.tol
        out = self._joint([r[paired] for r in rows]) if paired.any() else None
        n_joint = int(paired.sum())
        for h in range(self.n):
            self.dropped[h] += int(consumed[h].sum()) - n_joint
            self.buf[h] = self._cut(h, consumed[h])
        return out

    def _cut(self, h, consumed):
        if consumed is None:
            return {k: v[:0] for k, v in self.buf[h].items()}
        return {k: v[~consumed] for k, v in self.buf[h].items()}

    def _joint(self, rows):
        b0 = self.buf[0]
        n = len(rows[0])
        ncol = max(max(c) for c in self.channels) + 1
        los = np.zeros((n, ncol), np.complex64)
        delay = np.zeros((n, ncol))
        snr = np.full((n, ncol), -np.inf)
        valid = np.zeros((n, ncol), bool)
        for h, r in enumerate(rows):
            b, cols = self.buf[h], list(self.channels[h])
            los[:, cols] = b["los"][r]
            delay[:, cols] = b["delay_s"][r]
            snr[:, cols] = b["snr_db"][r]
            valid[:, cols] = b["valid"][r]
        self.joint += n
        return {"gps_time": b0["gps_time"][rows[0]], "seq": b0["seq"][rows[0]],
                "cfo_hz": b0["cfo_hz"][rows[0]], "los": los, "delay_s": delay, "snr_db": snr,
                "valid": valid}


def encode(frames):
    """A dict of frame arrays (as decode() gives) -> the batch LoS message."""
    n = len(frames["gps_time"])
    nv = frames["los"].size
    d = pmt.make_dict()
    d = pmt.dict_add(d, pmt.intern("gps_time"), pmt.init_f64vector(
        n, np.asarray(frames["gps_time"], np.float64).tolist()))
    d = pmt.dict_add(d, pmt.intern("seq"), pmt.init_u64vector(
        n, np.asarray(frames["seq"], np.uint64).tolist()))
    d = pmt.dict_add(d, pmt.intern("cfo_hz"), pmt.init_f64vector(
        n, np.asarray(frames["cfo_hz"], np.float64).tolist()))
    d = pmt.dict_add(d, pmt.intern("los"), pmt.init_c32vector(
        nv, np.asarray(frames["los"], np.complex64).ravel().tolist()))
    for key in ("delay_s", "snr_db"):
        d = pmt.dict_add(d, pmt.intern(key), pmt.init_f64vector(
            nv, np.asarray(frames[key], np.float64).ravel().tolist()))
    d = pmt.dict_add(d, pmt.intern("valid"), pmt.init_u8vector(
        nv, np.asarray(frames["valid"], np.uint8).ravel().tolist()))
    return d


class los_aligner(gr.basic_block):
    """The estimator side: one input port per host ("host0", "host1", ...: the
    messages of a host's los_publisher, e.g. from a ZMQ SUB Message Source), joint
    LoS messages out ("los", one column per array channel) for los_logger or
    offset_estimator.

    hosts: the hosts' names (for messages). need_channels: the array file's
    channels, which the hosts together must give. freq_hz, samp_rate: what the
    hosts must say (None: the first host's, then every host must agree).
    packet_len: samples per packet (a quarter packet is the pairing tolerance).
    max_frames / max_span_s: stop sending after this many joint frames / this span
    of GPS time from the first (0: no limit; `full` then says so).
    A contradiction (channel maps that overlap or miss an array channel, another
    carrier or rate) sets `error` (one line) and drops every later message.
    """

    def __init__(self, hosts=("host0", "host1"), need_channels=(), freq_hz=None,
                 samp_rate=None, packet_len=1278, max_frames=0, max_span_s=0.0):
        gr.basic_block.__init__(self, name="los_aligner", in_sig=None, out_sig=None)
        self.hosts = list(hosts)
        self.need = set(int(c) for c in need_channels)
        self.freq, self.rate = freq_hz, samp_rate
        self.packet_len = int(packet_len)
        self.max_frames, self.max_span = int(max_frames), float(max_span_s)
        self.al = None
        self.error = None
        self.full = False
        self.sent = 0
        self.t_first = None
        self.t_last = None
        self.heard = [None] * len(self.hosts)   # monotonic time of each host's last message
        self.announced = [None] * len(self.hosts)   # frames each host said it sent
        self.silent = [False] * len(self.hosts)     # taken as ended by end_silent()
        self.bad = 0
        self.lock = threading.Lock()
        self.message_port_register_out(pmt.intern("los"))
        for h in range(len(self.hosts)):
            port = pmt.intern(f"host{h}")
            self.message_port_register_in(port)
            # the gateway finds a handler by its name as an attribute
            handler = self._handler(h)
            setattr(self, handler.__name__, handler)
            self.set_msg_handler(port, handler)

    def _handler(self, h):
        def handler(msg):
            self._msg(h, msg)
        handler.__name__ = f"_handle_host{h}"
        return handler

    # ---- the state the command polls
    def all_ended(self):
        with self.lock:
            return self.al is not None and all(self.al.ended)

    def counts(self):
        """joint frames sent, and per host: received, dropped, still pending, ended."""
        with self.lock:
            if self.al is None:
                z = [0] * len(self.hosts)
                return {"joint": 0, "received": z, "dropped": z, "pending": z,
                        "ended": [False] * len(self.hosts), "announced": self.announced[:],
                        "silent": self.silent[:]}
            return {"joint": self.sent, "received": self.al.received[:],
                    "dropped": self.al.dropped[:],
                    "pending": [self.al.pending(h) for h in range(len(self.hosts))],
                    "ended": self.al.ended[:], "announced": self.announced[:],
                    "silent": self.silent[:],
                    "gap_s": float(np.median(self.al.gap_s)) if self.al.gap_s else None}

    def end_silent(self, h):
        """Take host h as ended (it went silent without its end message): the other
        hosts' frames become final instead of waiting for it for ever."""
        with self.lock:
            if self.al is None or self.al.ended[h] or self.error is not None:
                return
            self.silent[h] = True
            self.al.end(h)
            out = self.al.take()
            if out is not None and not self.full:
                self._send(out)

    # ---- messages
    def _fail(self, why):
        if self.error is None:
            self.error = why

    def _setting(self, h, msg, key, name, current):
        v = pmt.dict_ref(msg, key, pmt.PMT_NIL)
        if not pmt.is_real(v):
            self._fail(f"{self.hosts[h]}: its LoS messages carry no {name}: is it an "
                       "arraycal rx --los-sink?")
            return current
        v = pmt.to_double(v)
        if current is not None and abs(v - current) > 1e-9 * abs(current):
            self._fail(f"{self.hosts[h]}: {name} {v:g}, not {current:g} as the other hosts "
                       "(or the option) say")
            return current
        return v

    def _msg(self, h, msg):
        with self.lock:
            if self.error is not None or self.full:
                return
            if not pmt.is_dict(msg):
                self.bad += 1
                return
            self.heard[h] = time.monotonic()
            ch = pmt.dict_ref(msg, KEY_ARRAY_CHANNELS, pmt.PMT_NIL)
            if not pmt.is_u32vector(ch):
                self._fail(f"{self.hosts[h]}: its LoS messages carry no array_channels: is "
                           "it an arraycal rx --los-sink?")
                return
            channels = tuple(int(c) for c in pmt.u32vector_elements(ch))
            self.freq = self._setting(h, msg, KEY_FREQ, "carrier (freq_hz)", self.freq)
            self.rate = self._setting(h, msg, KEY_RATE, "sample rate (samp_rate)", self.rate)
            if self.error is not None:
                return
            if self.al is None:
                self.al = Aligner(len(self.hosts), self.packet_len / (4 * self.rate))
            if pmt.dict_has_key(msg, KEY_END):
                self.announced[h] = pmt.to_uint64(pmt.dict_ref(msg, KEY_FRAMES,
                                                               pmt.from_uint64(0)))
                self.al.end(h)
            else:
                try:
                    frames = los_msg.decode(msg)
                except los_msg.LosMessageError:
                    self.bad += 1
                    return
                try:
                    self.al.add(h, frames, channels)
                except AlignError as e:
                    self._fail(f"{self.hosts[h]}: {e}")
                    return
                if all(c is not None for c in self.al.channels):
                    given = set().union(*self.al.channels)
                    missing = sorted(self.need - given)
                    if missing:
                        self._fail(f"the array file uses channel {missing[0]}, which no host "
                                   f"gives (the hosts give {format_channels(given)}: "
                                   "--array-channels)")
                        return
            out = self.al.take()
            if out is not None:
                self._send(out)

    def _send(self, frames):
        t = frames["gps_time"]
        if self.t_first is None:
            self.t_first = float(t[0])
        keep = np.ones(len(t), bool)
        if self.max_span > 0:
            keep &= t - self.t_first < self.max_span
        if self.max_frames > 0:
            keep &= np.arange(len(t)) < self.max_frames - self.sent
        if not keep.all():
            self.full = True
            frames = {k: v[keep] for k, v in frames.items()}
        if len(frames["gps_time"]) == 0:
            return
        self.sent += len(frames["gps_time"])
        self.t_last = float(frames["gps_time"][-1])
        self.message_port_pub(pmt.intern("los"), encode(frames))
