#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The whole receive chain as one hier block: N channels in, LoS messages out."""

import math

import numpy as np
from gnuradio import gr

from . import waveform as wf
from ..arraycal_python import los_estimator, los_receiver, ls_chanest, moose_cfo, zc_sync


class rx_chain(gr.hier_block2):
    """The receive chain for N channels sharing one LO: N streams in, LoS messages out.

    fused=True (default): one C++ block, los_receiver, runs sync, Moose CFO,
    LS, CIR and LoS frame by frame, without the streams between the stages
    (what a B210 at its full rate needs). fused=False: the four stream
    blocks zc_sync -> moose_cfo -> ls_chanest -> los_estimator, with the
    same kernels and the same messages (for comparison, or as the template
    of a flowgraph that taps the intermediate streams).

    Inputs: N complex streams (with rx_time tags from a USRP, or none).
    Message out "los": one dict per frame (see los_estimator), or with
    batch_frames > 1 (fused only) one dict per batch of up to batch_frames
    frames spanning at most batch_latency_s; read either with
    gnuradio.arraycal.radio.los.decode (docs/blocks.md, "LoS message").
    gps_minus_rx_time_s: GPS time minus rx_time (0 for a USRP timed from
    GNSS, the leap seconds for a UTC host clock). workers: threads for the
    per-channel stages of the fused block (0: one per channel up to the
    cores; results do not depend on it).
    Message in "delays": predicted LoS delays for pick="predicted".
    estimates_out=True (four-block chain only): one output, channel 0's
    frame-by-frame LS channel estimate (a vector of the packet's length,
    frequency domain), e.g. for a CIR plot after an inverse FFT.
    The packet defaults to the thesis packet; its preamble is the first
    `preamble_len` samples and the Moose half `half_len`.
    """

    def __init__(self, num_chans=2, samp_rate=4e6, packet=None, preamble_len=278,
                 half_len=139, threshold=0.2, period=None, track_window=2, max_misses=3,
                 gps_minus_rx_time_s=0.0, correct_cfo=True, method="fft", pick="strongest",
                 zero_pad=1, threshold_db=-10.0, window=8.0, apes_len=200,
                 buffer_items=1 << 16, fused=True, batch_frames=1, batch_latency_s=0.1,
                 workers=0, estimates_out=False):
        pkt = np.asarray(wf.packet() if packet is None else packet, dtype=np.complex64)
        K = len(pkt)
        gr.hier_block2.__init__(self, "rx_chain",
                                gr.io_signature(num_chans, num_chans, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, K * gr.sizeof_gr_complex)
                                if estimates_out else gr.io_signature(0, 0, 0))
        if preamble_len > len(pkt) or 2 * half_len > preamble_len:
            raise ValueError("preamble length must fit the packet and hold two halves")
        if batch_frames != 1 and not fused:
            raise ValueError("batch_frames needs the fused chain (fused=True)")
        if estimates_out and fused:
            raise ValueError("estimates_out needs the four-block chain (fused=False)")
        self.fused = fused
        self.message_port_register_hier_out("los")
        self.message_port_register_hier_in("delays")
        if fused:
            self.rx = los_receiver(
                pkt.tolist(), num_chans=num_chans, samp_rate=samp_rate,
                preamble_len=preamble_len, half_len=half_len, threshold=threshold,
                period=K if period is None else period, track_window=track_window,
                max_misses=max_misses, gps_minus_rx_time_s=gps_minus_rx_time_s,
                correct_cfo=correct_cfo, method=method, pick=pick, zero_pad=zero_pad,
                threshold_db=threshold_db, window=window, apes_len=apes_len,
                batch_frames=batch_frames, batch_latency_s=batch_latency_s, workers=workers)
            self._blocks = (self.rx,)
            for c in range(num_chans):
                self.connect((self, c), (self.rx, c))
            self.msg_connect(self.rx, "los", self, "los")
            self.msg_connect(self, "delays", self.rx, "delays")
            return
        self.sync = zc_sync(pkt[:preamble_len].tolist(), num_chans, threshold,
                            K if period is None else period, track_window, max_misses,
                            samp_rate, gps_minus_rx_time_s, preamble_len // half_len)
        self.cfo = moose_cfo(half_len, num_chans, samp_rate, correct_cfo)
        self.ls = ls_chanest(pkt.tolist(), num_chans)
        self.los = los_estimator(K, num_chans, samp_rate, method, pick, zero_pad,
                                 threshold_db, window, apes_len)
        self._blocks = (self.sync, self.cfo, self.ls, self.los)
        # Large buffers: fewer, longer work calls, far fewer thread wake-ups
        # (at 2 x 30 MS/s the default 32 kB buffers cost more in context
        # switches than the DSP)
        for blk in (self.sync, self.cfo):
            blk.set_min_output_buffer(buffer_items)
        # GNU Radio maps buffers in 4096-byte pages: a K-sample vector buffer
        # comes in multiples of 4096/gcd(8K, 4096) items (256 for K = 1278);
        # ask for such a multiple, or it rounds up and warns
        page_items = 4096 // math.gcd(8 * K, 4096)
        self.ls.set_min_output_buffer(
            max(page_items, -(-max(8, buffer_items // K) // page_items) * page_items))
        for c in range(num_chans):
            self.connect((self, c), (self.sync, c), (self.cfo, c), (self.ls, c),
                         (self.los, c))
        if estimates_out:
            self.connect((self.ls, 0), (self, 0))
        self.msg_connect(self.los, "los", self, "los")
        self.msg_connect(self, "delays", self.los, "delays")

    # run-time callbacks
    def set_threshold(self, threshold):
        (self.rx if self.fused else self.sync).set_threshold(threshold)

    def set_gps_minus_rx_time_s(self, seconds):
        (self.rx if self.fused else self.sync).set_gps_minus_rx_time_s(seconds)

    def set_correct_cfo(self, correct):
        if self.fused:
            self.rx.set_correct_cfo(correct)
        else:
            self.cfo.set_correct(correct)

    def set_pick(self, pick):
        (self.rx if self.fused else self.los).set_pick(pick)

    def set_threshold_db(self, threshold_db):
        (self.rx if self.fused else self.los).set_threshold_db(threshold_db)

    def set_processor_affinity(self, mask):
        """Pin the chain's blocks to the CPUs in mask (list of core numbers).

        Forwarded to each inner block: GNU Radio 3.10's hier_block2 version
        crashes when called before the flowgraph is flattened.
        """
        for blk in self._blocks:
            blk.set_processor_affinity(list(mask))

    def packet_len(self):
        return (self.rx if self.fused else self.ls).packet_len()

    def samples_read(self):
        """Samples per channel the chain has taken in so far."""
        return (self.rx if self.fused else self.sync).nitems_read(0)

    def stats(self):
        """Counters for reports: frames found, missed, re-acquired, dropped at gaps."""
        if self.fused:
            rx = self.rx
            return {"frames": rx.frames(), "misses": rx.misses(),
                    "reacquisitions": rx.reacquisitions(), "dropped_gaps": rx.dropped(),
                    "los": rx.los_frames(), "los_messages": rx.los_messages()}
        return {"frames": self.sync.frames(), "misses": self.sync.misses(),
                "reacquisitions": self.sync.reacquisitions(),
                "dropped_gaps": self.ls.dropped(), "los": self.los.frames()}
