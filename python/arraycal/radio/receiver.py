#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The live receiver, defined once: N channels -> receive chain -> LoS log, with an
optional SigMF recording and live estimator. `arraycal rx`, `process`, `demo` and
the apps/arraycal_rx*.grc flowgraphs all run this block."""

from gnuradio import gr

from ..errors import UserError
from .rx_chain import rx_chain

RECORD_DATATYPES = {"cf32": "cf32_le", "ci16": "ci16_le"}


class receiver(gr.hier_block2):
    """N complex streams sharing one LO (a USRP Source, rx_source, a recording, the
    emulator) through rx_chain; its LoS messages logged to los_path by the C++
    los_logger (appended, flushed; '' for no log).

    record: a base path; the input streams are also recorded as SigMF
    (RECORD.sigmf-meta / -data, record_format "cf32" or "ci16"; freq, gain_db
    and serials describe them). live: a block taking the LoS messages on "los"
    and GNSS fixes on "gnss" and publishing "offsets" (calibration.live's
    offset_estimator): this block's "gnss" input and "offsets" output reach it.
    estimates_out: one stream output, channel 0's frame-by-frame LS channel
    estimate (for a CIR plot); it needs the four-block chain, whose messages
    carry one frame each (batch_frames is then 1).
    Messages: in "gnss" (to live), "delays" (the chain's, pick="predicted");
    out "los" (the chain's, batches of up to batch_frames frames), "offsets" and
    "text" (live's: the offsets as a message and as one line).
    The chain's settings are rx_chain's, with its run-time callbacks.
    """

    def __init__(self, num_chans=2, samp_rate=4e6, los_path="los.csv", *,
                 gps_minus_rx_time_s=0.0, method="fft", pick="strongest", zero_pad=1,
                 apes_len=200, threshold=0.2, threshold_db=-10.0, correct_cfo=True,
                 batch_frames=64, workers=0, packet=None, record="", record_format="cf32",
                 freq=1.3e9, gain_db=None, serials=(), live=None, estimates_out=False):
        from .waveform import packet as default_packet
        K = len(default_packet() if packet is None else packet)
        gr.hier_block2.__init__(
            self, "receiver", gr.io_signature(num_chans, num_chans, gr.sizeof_gr_complex),
            gr.io_signature(1, 1, K * gr.sizeof_gr_complex) if estimates_out
            else gr.io_signature(0, 0, 0))
        if record_format not in RECORD_DATATYPES:
            raise UserError(f"record format '{record_format}': use cf32 or ci16")
        self.chain = rx_chain(
            num_chans=num_chans, samp_rate=samp_rate, packet=packet,
            gps_minus_rx_time_s=gps_minus_rx_time_s, method=method, pick=pick,
            zero_pad=zero_pad, apes_len=apes_len, threshold=threshold,
            threshold_db=threshold_db, correct_cfo=correct_cfo,
            batch_frames=1 if estimates_out else batch_frames, workers=workers,
            fused=not estimates_out, estimates_out=estimates_out)
        for c in range(num_chans):
            self.connect((self, c), (self.chain, c))
        if estimates_out:
            self.connect(self.chain, self)
        for port in ("gnss", "delays"):
            self.message_port_register_hier_in(port)
        for port in ("los", "offsets", "text"):
            self.message_port_register_hier_out(port)
        self.msg_connect(self.chain, "los", self, "los")
        self.msg_connect(self, "delays", self.chain, "delays")
        self.logger = None
        if los_path:
            from ..arraycal_python import los_logger
            try:
                self.logger = los_logger(str(los_path))
            except RuntimeError as e:      # the directory is missing or not writable
                raise UserError(str(e)) from None
            self.msg_connect(self.chain, "los", self.logger, "los")
        self.recorder = None
        if record:
            from .rx import sigmf_sink
            self.recorder = sigmf_sink(str(record), num_chans, samp_rate, freq, gain_db,
                                       list(serials), gps_minus_rx_time_s,
                                       datatype=RECORD_DATATYPES[record_format])
            for c in range(num_chans):
                self.connect((self, c), (self.recorder, c))
        self.live = live
        if live is not None:
            self.msg_connect(self.chain, "los", live, "los")
            self.msg_connect(self, "gnss", live, "gnss")
            self.msg_connect(live, "offsets", self, "offsets")
            self.msg_connect(live, "text", self, "text")

    # what a run reports
    def samples_read(self):
        """Samples per channel taken in so far."""
        return self.chain.samples_read()

    def stats(self):
        """The chain's counters (rx_chain.stats) and "logged": frames in the LoS log."""
        return dict(self.chain.stats(), logged=self.logged())

    def logged(self):
        return self.logger.count() if self.logger is not None else 0

    def close(self):
        """Close the LoS log (after the flowgraph stopped; its stop() flushed it)."""
        if self.logger is not None:
            self.logger.close()

    # run-time callbacks (GRC), the chain's
    def set_threshold(self, threshold):
        self.chain.set_threshold(threshold)

    def set_gps_minus_rx_time_s(self, seconds):
        self.chain.set_gps_minus_rx_time_s(seconds)

    def set_correct_cfo(self, correct):
        self.chain.set_correct_cfo(correct)

    def set_pick(self, pick):
        self.chain.set_pick(pick)

    def set_threshold_db(self, threshold_db):
        self.chain.set_threshold_db(threshold_db)
