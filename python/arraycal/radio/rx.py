#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Receiver side: the N-channel source (USRP, ZMQ or a recording), a SigMF
recorder, the LoS logger and the live offset estimator (message blocks)."""

import threading
import time

import numpy as np
import pmt
from gnuradio import blocks, gr

from ..calibration import store as calstore
from ..calibration import geometry
from ..gnss import ubx as gnss
from .. import timeutil
from ..errors import UserError
from ..calibration.offsets import OffsetEstimator
from ..calibration.pipeline import decode_los, _median_position
from .recording import RecordingWriter, open_recording, sigmf_source


def parse_source(spec):
    kind, _, target = str(spec).partition(":")
    kind = kind.strip().lower()
    if kind == "uhd":
        return kind, target
    if kind in ("zmq", "file"):
        if not target:
            raise UserError(f"source '{spec}' needs a target: {kind}:"
                            + ("tcp://127.0.0.1:5552" if kind == "zmq" else "REC.sigmf-meta"))
        return kind, target
    raise UserError(f"unknown source '{spec}': use uhd, zmq:ADDR or file:REC.sigmf-meta")


class rx_source(gr.hier_block2):
    """N receiver channels from a USRP (UHD), a ZMQ PULL socket, or a SigMF recording.

    source: "uhd", "zmq:ADDR" (vectors of N complex per sample, tags passed: the
    emulator's output) or "file:REC.sigmf-meta". The USRP is only opened when
    chosen. sync sets its time like GRC's USRP Sync option (gps_time needs
    next_pps_gps, from the GNSS receiver's TIM-TP, and its PPS on the USRP;
    give a function returning it to have it read once the USRP is set up, so
    that the pulse announced is still the next one).
    time_offset() is the GPS - rx_time offset the receive chain needs.
    """

    def __init__(self, source="uhd", num_chans=2, samp_rate=4e6, freq=1.3e9, gain=40.0,
                 antenna="RX2", serial="", args="", clock_source="internal",
                 time_source="internal", sync="pc_clock", next_pps_gps=None):
        gr.hier_block2.__init__(self, "rx_source", gr.io_signature(0, 0, 0),
                                gr.io_signature(num_chans, num_chans, gr.sizeof_gr_complex))
        self.kind, target = parse_source(source)
        self.usrp = None
        self._offset = 0.0
        if self.kind == "uhd":
            from gnuradio import uhd
            from .tx import uhd_device_args
            self.usrp = uhd.usrp_source(uhd_device_args(serial, args),
                                        uhd.stream_args(cpu_format="fc32", args="",
                                                        channels=list(range(num_chans))))
            self.usrp.set_clock_source(clock_source, 0)
            self.usrp.set_time_source(time_source, 0)
            self.usrp.set_samp_rate(samp_rate)
            for c in range(num_chans):
                self.usrp.set_center_freq(freq, c)
                self.usrp.set_gain(gain, c)
                if antenna:
                    self.usrp.set_antenna(antenna, c)
            if callable(next_pps_gps):
                next_pps_gps = next_pps_gps()
            self._offset = timeutil.sync_usrp_time(self.usrp, sync, next_pps_gps)
            for c in range(num_chans):
                self.connect((self.usrp, c), (self, c))
        elif self.kind == "zmq":
            from gnuradio import zeromq
            self.zmq = zeromq.pull_source(gr.sizeof_gr_complex, num_chans, target, 100, True, -1)
            self.split = blocks.vector_to_streams(gr.sizeof_gr_complex, num_chans)
            self.connect(self.zmq, self.split)
            for c in range(num_chans):
                self.connect((self.split, c), (self, c))
            self._offset = 0.0  # the emulator stamps GPS time
        else:
            rec = open_recording(target)
            if rec.num_channels != num_chans:
                raise UserError(f"recording {target} has {rec.num_channels} channels, "
                                f"not {num_chans}")
            self.rec = rec
            self.file = sigmf_source(rec)
            for c in range(num_chans):
                self.connect((self.file, c), (self, c))
            self._offset = float(timeutil.leap_seconds_at_utc(rec.captures[0].utc))

    def time_offset(self):
        return self._offset


class sigmf_sink(gr.sync_block):
    """Records N channels as SigMF; a new capture at every rx_time tag and retune.

    A USRP tags rx_time (and rx_freq, rx_rate) on its first sample and
    rx_time again after an overflow: each becomes a capture start. rx_freq
    at another frequency (a retune) starts a capture at that frequency. Tags
    on one sample make one capture. rx_time is taken as GPS time minus
    time_offset (UTC when time_offset is the leap seconds); captures are
    stamped in UTC as SigMF wants. Without any rx_time before the first
    sample, the first capture is stamped with the host clock."""

    def __init__(self, base, num_chans, samp_rate, freq, gain_db=None, serials=(),
                 time_offset=0.0, leap=timeutil.DEFAULT_LEAP_SECONDS):
        gr.sync_block.__init__(self, name="sigmf_sink", in_sig=[np.complex64] * num_chans,
                               out_sig=None)
        self.w = RecordingWriter(base, samp_rate, num_chans, freq, gain_db, serials)
        self.rate = float(samp_rate)
        self.to_gps = float(time_offset)
        self.leap = leap
        self._started = False
        self._keys = {pmt.intern("rx_time"): "time", pmt.intern("rx_freq"): "freq"}

    def _cuts(self, start, n):
        """{relative offset: {"time": utc, "freq": Hz}} of this window's tags (channel 0)."""
        cuts = {}
        for t in self.get_tags_in_window(0, 0, n):
            what = next((v for k, v in self._keys.items() if pmt.eq(t.key, k)), None)
            if what is None:
                continue
            try:
                if what == "time":
                    secs = pmt.to_uint64(pmt.tuple_ref(t.value, 0)) + \
                        pmt.to_double(pmt.tuple_ref(t.value, 1))
                    val = timeutil.gps_to_utc(secs + self.to_gps, self.leap)
                else:
                    val = pmt.to_double(t.value)
            except (RuntimeError, TypeError, ValueError):
                continue  # a malformed tag from elsewhere: not ours to interpret
            cuts.setdefault(t.offset - start, {})[what] = val
        return cuts

    def work(self, input_items, output_items):
        n = len(input_items[0])
        cuts = self._cuts(self.nitems_read(0), n)
        if not self._started and 0 not in cuts:
            self.w.new_capture(time.time())  # no time tag yet: host clock
            self._started = True
        pos = 0
        for off in sorted(cuts):
            c = cuts[off]
            retune = "freq" in c and abs(c["freq"] - self.w.freq) > 1.0
            if "time" not in c and not retune and self._started:
                continue  # rx_freq repeated at the same frequency
            if off > pos:
                self.w.write(np.stack([x[pos:off] for x in input_items]))
                pos = off
            if "time" in c:
                utc = c["time"]
            elif self._started:
                utc = self.w.capture_utc()
            else:
                utc = time.time()
            self.w.new_capture(utc, c["freq"] if retune else None)
            self._started = True
        if pos < n:
            self.w.write(np.stack([x[pos:n] for x in input_items]))
        return n

    def stop(self):
        self.w.close()
        return True


class offset_estimator(gr.basic_block):
    """Live element offsets from LoS messages and GNSS messages.

    Inputs: "los" (rx_chain / los_estimator), "gnss" (gnss_source messages:
    role "tx" gives the transmitter's track; role "rx" the array's position,
    else rx_position "LAT,LON,HEIGHT"). Every `publish_every` LoS frames it sends
    an "offsets" message: freq_hz, reference, offsets (c32vector per element,
    array-file order), phase_std_deg, amp_std_db (f64vectors), n_used. With a
    store directory, the final estimate is stored when the flowgraph stops.
    """

    def __init__(self, array="", freq_hz=1.3e9, samp_rate=4e6, publish_every=1000,
                 min_snr_db=10.0, max_h_acc=0.5, min_carr_soln=0, rx_position="", store="",
                 joint=False, method="fft"):
        gr.basic_block.__init__(self, name="offset_estimator", in_sig=None, out_sig=None)
        self.array = array if isinstance(array, geometry.ArrayGeometry) else \
            geometry.load_array(array)
        self.freq, self.rate = float(freq_hz), float(samp_rate)
        self.every = max(1, int(publish_every))
        self.quality = geometry.QualityGate(3, int(min_carr_soln), float(max_h_acc))
        self.rx_position = tuple(float(x) for x in str(rx_position).split(",")) \
            if rx_position else None
        self.store, self.joint, self.method = store, bool(joint), method
        self.est = OffsetEstimator(self.array, self.freq, None, min_snr_db=min_snr_db)
        self.tx_fixes, self.rx_fixes = [], []
        self.lock = threading.Lock()
        self.last = None
        for port in ("los", "gnss"):
            self.message_port_register_in(pmt.intern(port))
        self.set_msg_handler(pmt.intern("los"), self._los)
        self.set_msg_handler(pmt.intern("gnss"), self._gnss)
        self.message_port_register_out(pmt.intern("offsets"))
        self.errors = 0

    def _gnss(self, msg):
        d = pmt.to_python(msg)
        try:
            fix = gnss.fix_from_dict(dict(d, role=str(d.get("role", ""))))
        except TypeError:
            return
        with self.lock:
            (self.rx_fixes if fix.role == "rx" else self.tx_fixes).append(fix)

    def _los(self, msg):
        with self.lock:
            self.est.add(decode_los(msg))
            due = self.est.frames_seen % self.every == 0
        if due:
            self.publish()

    def _track(self):
        good, _ = geometry.gate(self.tx_fixes, self.quality)
        rx_good, _ = geometry.gate(self.rx_fixes, self.quality)
        origin = self.rx_position or (_median_position(rx_good) if rx_good else None)
        if len(good) < 2 or origin is None:
            return None, None
        return geometry.Track(good, origin), max(f.gps_time for f in good)

    def estimate(self):
        with self.lock:
            track, until = self._track()
            if track is None:
                return None
            self.est.tx_track = track
            try:
                return self.est.estimate(joint=self.joint, until=until)
            except UserError:
                return None

    def publish(self):
        r = self.estimate()
        if r is None:
            return
        self.last = r
        d = pmt.make_dict()
        d = pmt.dict_add(d, pmt.intern("freq_hz"), pmt.from_double(r.freq_hz))
        d = pmt.dict_add(d, pmt.intern("reference"), pmt.intern(r.reference))
        d = pmt.dict_add(d, pmt.intern("offsets"), pmt.init_c32vector(
            len(r.elements), [complex(e.offset) for e in r.elements]))
        d = pmt.dict_add(d, pmt.intern("phase_std_deg"), pmt.init_f64vector(
            len(r.elements), [float(e.phase_std_deg) for e in r.elements]))
        d = pmt.dict_add(d, pmt.intern("amp_std_db"), pmt.init_f64vector(
            len(r.elements), [float(e.amp_std_db) for e in r.elements]))
        d = pmt.dict_add(d, pmt.intern("n_used"), pmt.from_long(int(r.frames_used)))
        self.message_port_pub(pmt.intern("offsets"), d)

    def stop(self):
        if self.store:
            r = self.estimate()
            if r is not None:
                doc = calstore.make_document(self.array, r, self.rate, method=self.method)
                calstore.Store(self.store).add(doc)
        return True


class ubx_pdu_decoder(gr.basic_block):
    """UBX bytes as PDUs (e.g. from a ZMQ SUB socket) -> "gnss" messages with a role."""

    def __init__(self, role="tx"):
        gr.basic_block.__init__(self, name="ubx_pdu_decoder", in_sig=None, out_sig=None)
        self.dec = gnss.UbxDecoder(role)
        self.message_port_register_in(pmt.intern("pdus"))
        self.set_msg_handler(pmt.intern("pdus"), self._pdu)
        self.message_port_register_out(pmt.intern("gnss"))

    def _pdu(self, msg):
        data = pmt.cdr(msg) if pmt.is_pair(msg) else msg
        if not pmt.is_u8vector(data):
            return
        from ..gnss.source import fix_to_pmt
        for fix in self.dec.feed(bytes(pmt.u8vector_elements(data)), time.time()):
            self.message_port_pub(pmt.intern("gnss"), fix_to_pmt(fix))
