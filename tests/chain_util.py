#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Run numpy multi-channel streams through the real GNU Radio receive chain."""

import numpy as np
import pmt
from gnuradio import arraycal, blocks, gr


def rx_time_tag(offset, seconds):
    """A gr-uhd style rx_time tag: (uint64 secs, double frac)."""
    t = gr.tag_t()
    t.offset = int(offset)
    t.key = pmt.intern("rx_time")
    whole = int(np.floor(seconds))
    t.value = pmt.make_tuple(pmt.from_uint64(whole), pmt.from_double(seconds - whole))
    return t


def run_chain(sig, samp_rate, packet=None, tags=None, **kw):
    """sig: (channels, samples) complex; tags: list of gr.tag_t put on every channel.

    Returns (messages as dicts, rx_chain block) after the flowgraph ran to the end.
    """
    sig = np.asarray(sig, dtype=np.complex64)
    nchan = sig.shape[0]
    chain = arraycal.rx_chain(num_chans=nchan, samp_rate=samp_rate, packet=packet, **kw)
    tb = gr.top_block()
    dbg = blocks.message_debug()
    for c in range(nchan):
        src = blocks.vector_source_c(sig[c].tolist(), False, 1, list(tags or []))
        tb.connect(src, (chain, c))
    tb.msg_connect(chain, "los", dbg, "store")
    tb.run()
    msgs = [pmt.to_python(dbg.get_message(i)) for i in range(dbg.num_messages())]
    return msgs, chain


def frame_tags(sig, samp_rate, packet=None, correct=True, tags=None, max_noutput_items=None):
    """Run sync + Moose only; return the arraycal_frame tags of channel 0 as dicts with offsets."""
    sig = np.asarray(sig, dtype=np.complex64)
    nchan = sig.shape[0]
    pkt = arraycal.packet() if packet is None else np.asarray(packet, np.complex64)
    sync = arraycal.zc_sync(pkt[:278].tolist(), nchan, 0.2, len(pkt), 4, 3, samp_rate, 0.0, 2)
    cfo = arraycal.moose_cfo(139, nchan, samp_rate, correct)
    if max_noutput_items:
        sync.set_max_noutput_items(max_noutput_items)
        cfo.set_max_noutput_items(max(1, max_noutput_items // 2 + 1))
    tb = gr.top_block()
    snk = blocks.vector_sink_c()
    for c in range(nchan):
        src = blocks.vector_source_c(sig[c].tolist(), False, 1, list(tags or []))
        tb.connect(src, (sync, c), (cfo, c))
        if c == 0:
            tb.connect((cfo, 0), snk)
        else:
            tb.connect((cfo, c), blocks.null_sink(gr.sizeof_gr_complex))
    tb.run()
    delay = sync.delay() + cfo.delay()
    out = []
    for t in snk.tags():
        if pmt.symbol_to_string(t.key) != "arraycal_frame":
            continue
        d = pmt.to_python(t.value)
        d["start"] = t.offset - delay  # input sample index of the frame start
        out.append(d)
    return out, sync


class MessageCollector(gr.basic_block):
    """Message sink for tests: stores messages as Python objects, signals when it has n."""

    def __init__(self, port="in", expect=None):
        import threading
        gr.basic_block.__init__(self, name="collector", in_sig=None, out_sig=None)
        self.messages = []
        self.expect = expect
        self.enough = threading.Event()
        self.message_port_register_in(pmt.intern(port))
        self.set_msg_handler(pmt.intern(port), self._handle)

    def _handle(self, msg):
        self.messages.append(pmt.to_python(msg))
        if self.expect is not None and len(self.messages) >= self.expect:
            self.enough.set()
