#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Transmit side: the repeating packet source and a sink that is a USRP, a file or ZMQ.

Nothing here imports Qt: the transmitter runs headless on a Raspberry Pi.
"""

import math
import os

import numpy as np
from gnuradio import blocks, gr

from . import waveform as wf
from ..errors import UserError


def load_packet(path=""):
    """The packet from an interleaved float32 I/Q file, or the default packet if no path."""
    if not path:
        return wf.packet()
    if not os.path.isfile(path):
        raise UserError(f"waveform file '{path}' not found")
    try:
        x = wf.read(path)
    except ValueError as e:
        raise UserError(str(e)) from None
    if x.size == 0:
        raise UserError(f"waveform file '{path}' is empty")
    if not np.all(np.isfinite(x)):
        raise UserError(f"waveform file '{path}' holds NaN or Inf samples")
    return x


class packet_source(gr.hier_block2):
    """Repeats one packet back to back (the previous packet is the next one's cyclic prefix).

    waveform: interleaved float32 I/Q file, '' for the built-in thesis packet.
    amplitude: scale for the DAC (the packet has unit magnitude).
    duration: seconds to send, rounded up to whole packets; 0 = until stopped.
    finish_packet() ends the stream at a packet boundary (a clean stop on
    SIGTERM: a receiver or a file never gets a cut-off last packet).
    """

    # items the head block may be ahead of what it reports as written when
    # finish_packet() reads it (one scheduler call is at most a buffer)
    _AHEAD = 1 << 20

    def __init__(self, waveform="", samp_rate=4e6, amplitude=0.7, duration=0.0):
        gr.hier_block2.__init__(self, "packet_source", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        x = load_packet(waveform)
        if not 0 < amplitude <= 1.0:
            raise UserError(f"amplitude must be in (0, 1], not {amplitude}")
        if not (math.isfinite(duration) and duration >= 0):
            raise UserError(f"duration must be >= 0 s, not {duration}")
        self.packet = (x * np.float32(amplitude)).astype(np.complex64)
        self.src = blocks.vector_source_c(self.packet.tolist(), True)
        n_items = 2**63 - 1
        if duration > 0:
            n_items = max(1, math.ceil(duration * samp_rate / len(x))) * len(x)
            if n_items >= 2**63:
                raise UserError(f"duration {duration:g} s at {samp_rate:g} S/s is too long")
        self.head = blocks.head(gr.sizeof_gr_complex, n_items)
        # a buffer of many packets: a consumer that works per call (the channel
        # emulator's Python, a file or ZMQ sink) is woken once per many packets
        self.head.set_min_output_buffer(0, 1 << 16)
        self.connect(self.src, self.head, self)

    def packet_len(self):
        return len(self.packet)

    def finish_packet(self):
        """End the stream after the packet being sent (the flowgraph then finishes)."""
        k = len(self.packet)
        sent = self.head.nitems_written(0)
        self.head.set_length(-(-(sent + self._AHEAD) // k) * k)

    def items_sent(self):
        return self.head.nitems_written(0)


def parse_sink(spec):
    """'uhd' | 'file:PATH' | 'zmq:ADDR' -> (kind, target)."""
    kind, sep, target = str(spec).partition(":")
    kind = kind.strip().lower()
    if kind == "uhd":
        return kind, target
    if kind in ("file", "zmq"):
        if not target:
            raise UserError(f"sink '{spec}' needs a target: {kind}:"
                            + ("PATH" if kind == "file" else "tcp://127.0.0.1:5555"))
        return kind, target
    raise UserError(f"unknown sink '{spec}': use uhd, file:PATH or zmq:ADDR")


def uhd_device_args(serial="", args=""):
    parts = []
    if serial:
        parts.append(f"serial={serial}")
    if args:
        parts.append(args)
    return ",".join(parts)


class tx_sink(gr.hier_block2):
    """Where the packet stream goes: a USRP (UHD), a file, or a ZMQ PUSH socket.

    The UHD sink is only built when chosen: without a USRP attached,
    constructing one fails with "No devices found". File and ZMQ sinks stand
    in for the radio in tests and in the three-process loopback.
    """

    def __init__(self, sink="uhd", samp_rate=4e6, freq=1.3e9, gain=50.0,
                 antenna="TX/RX", serial="", args="", clock_source="internal",
                 time_source="internal", realtime=False):
        gr.hier_block2.__init__(self, "tx_sink",
                                gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(0, 0, 0))
        self.kind, target = parse_sink(sink)
        self.usrp = None
        if self.kind == "uhd":
            from gnuradio import uhd
            self.usrp = uhd.usrp_sink(
                uhd_device_args(serial, args),
                uhd.stream_args(cpu_format="fc32", args="", channels=[0]), "")
            if clock_source:
                self.usrp.set_clock_source(clock_source, 0)
            if time_source:
                self.usrp.set_time_source(time_source, 0)
            self.usrp.set_samp_rate(samp_rate)
            self.usrp.set_center_freq(freq, 0)
            self.usrp.set_gain(gain, 0)
            if antenna:
                self.usrp.set_antenna(antenna, 0)
            self.connect(self, self.usrp)
            return
        if self.kind == "file":
            snk = blocks.file_sink(gr.sizeof_gr_complex, target, False)
            snk.set_unbuffered(False)
        else:
            from gnuradio import zeromq
            snk = zeromq.push_sink(gr.sizeof_gr_complex, 1, target, 100, False, -1)
        self.sink = snk
        if realtime:
            self.throttle = blocks.throttle(gr.sizeof_gr_complex, samp_rate, True)
            self.connect(self, self.throttle, snk)
        else:
            self.connect(self, snk)

    # run-time callbacks (GRC): no-ops without a USRP
    def set_freq(self, freq):
        if self.usrp is not None:
            self.usrp.set_center_freq(freq, 0)

    def set_gain(self, gain):
        if self.usrp is not None:
            self.usrp.set_gain(gain, 0)
