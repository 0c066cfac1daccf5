#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Receiver side: the N-channel source (USRP, ZMQ or a recording), a SigMF
recorder, and the UBX PDU decoder for GNSS over ZMQ."""

import time

import numpy as np
import pmt
from gnuradio import blocks, gr

from ..gnss import ubx as gnss
from .. import timeutil
from ..errors import UserError
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
            # freq chooses the captures of a recording retuned to several frequencies
            rec = open_recording(target, frequency=freq, only_if_retuned=True)
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
                 time_offset=0.0, leap=timeutil.DEFAULT_LEAP_SECONDS, datatype="cf32_le"):
        gr.sync_block.__init__(self, name="sigmf_sink", in_sig=[np.complex64] * num_chans,
                               out_sig=None)
        # datatype ci16_le: half the disk; full scale 32767 as UHD's sc16 (recording.py)
        self.w = RecordingWriter(base, samp_rate, num_chans, freq, gain_db, serials,
                                 datatype=datatype)
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
