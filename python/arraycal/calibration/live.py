#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The live offset estimator: the calibration pipeline inside a flowgraph."""

import threading

import pmt
from gnuradio import gr

from . import geometry, pipeline
from .offsets import OffsetEstimator
from ..errors import UserError
from ..gnss import ubx as gnss
from ..radio import los

def summary_line(result):
    """The offsets in one line: each element's phase (deg) and amplitude (dB) against
    the reference, and the frames used."""
    parts = [f"{e.id} {e.phase_deg:+.2f} deg {e.amp_db:+.3f} dB" for e in result.elements
             if e.id != result.reference]
    return f"vs {result.reference}: " + ", ".join(parts) + f" ({result.frames_used} frames)"


class offset_estimator(gr.basic_block):
    """Live element offsets from LoS messages and GNSS messages.

    Inputs: "los" (rx_chain / los_estimator), "gnss" (gnss_source messages:
    role "tx" gives the transmitter's track; role "rx" the array's position,
    else rx_position "LAT,LON,HEIGHT"). Every `publish_every` LoS frames it sends
    an "offsets" message: freq_hz, reference, offsets (c32vector per element,
    array-file order), phase_std_deg, amp_std_db (f64vectors), n_used, and on
    "text" the same as one line (a symbol: what a QT GUI Message Edit Box of type
    string shows; it refuses a dict). With a store directory, the final estimate is
    stored when the flowgraph stops.
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
        self.message_port_register_out(pmt.intern("text"))
        self.errors = 0
        self._pending = False

    def _gnss(self, msg):
        d = pmt.to_python(msg)
        try:
            fix = gnss.fix_from_dict(dict(d, role=str(d.get("role", ""))))
        except TypeError:
            return
        with self.lock:
            (self.rx_fixes if fix.role == "rx" else self.tx_fixes).append(fix)
        if self._pending:
            # a publication was due while the positions lagged behind the frames
            self.publish()

    def _los(self, msg):
        try:
            batch = los.decode(msg)     # single-frame or batch messages alike
        except los.LosMessageError:
            self.errors += 1
            return
        with self.lock:
            before = self.est.frames_seen
            self.est.add_batch(batch)
            due = self.est.frames_seen // self.every > before // self.every
        if due:
            self.publish()

    def _track(self):
        good, _ = geometry.gate(self.tx_fixes, self.quality)
        if len(good) < 2 or not (self.rx_position or self.rx_fixes):
            return None, None
        try:
            pos = pipeline.positions_from_fixes(self.tx_fixes, self.rx_fixes, self.rx_position,
                                                self.quality)
        except UserError:
            return None, None
        return pos.track, max(f.gps_time for f in good)

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
        # GNU Radio hands one port's queued messages over before the other's: while
        # LoS messages keep coming faster than they are handled (a simulation), the
        # GNSS ones wait. An estimate that lacks positions for a tenth of its frames
        # stays pending: every fix that arrives then publishes again
        r = self.estimate()
        self._pending = r is None or r.frames_used < 0.9 * self.est.stored
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
        self.message_port_pub(pmt.intern("text"), pmt.intern(summary_line(r)))

    def stop(self):
        if self.store:
            with self.lock:
                track, until = self._track()
                if track is not None:
                    self.est.tx_track = track
                    try:
                        pipeline.calibrate(self.est, self.array, sample_rate=self.rate,
                                           method=self.method, store=self.store,
                                           joint=self.joint, until=until, report=False)
                    except UserError as e:
                        gr.logger("offset_estimator").warn(f"nothing stored: {e}")
        return True


