#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Apply a stored calibration inside any flowgraph: channel k times 1 / d_eps_k."""

import pmt
from gnuradio import blocks, gr

from . import store as calstore
from ..errors import UserError


class _loader(gr.basic_block):
    """Message handler of calibration_apply (hier blocks cannot handle messages)."""

    def __init__(self, owner):
        gr.basic_block.__init__(self, name="calibration_loader", in_sig=None, out_sig=None)
        self.owner = owner
        self.message_port_register_in(pmt.intern("calibration"))
        self.set_msg_handler(pmt.intern("calibration"), self.handle)

    def handle(self, msg):
        try:
            if pmt.is_symbol(msg):
                self.owner.load(pmt.symbol_to_string(msg))
            elif pmt.is_dict(msg):
                d = pmt.to_python(msg)
                if "path" in d:
                    self.owner.load(str(d["path"]))
                else:
                    self.owner.load_document(d, "message")
            else:
                raise UserError("calibration message must be a path or a document dict")
        except UserError as e:
            self.owner.logger_error(f"calibration not applied, keeping the previous: {e}")


class calibration_apply(gr.hier_block2):
    """Multiplies channel k by its correction weight 1 / d_eps_k.

    calibration: a calibration JSON file, or '' to take the newest entry of
    the store that matches freq_hz, samp_rate, gain_db and serials (comma
    separated; '' = any). A document that does not match is refused with a
    clear error, at construction and at run time (message port
    "calibration": a path, or a document dict; the previous weights stay).

    Only a calibration whose verdict is good and that is not simulated is
    applied, unless allow_suspect / allow_simulated / allow_unverified (a
    document made before verdicts) say otherwise; a failed one never is.
    An invalid store entry newer than the match is an error, not skipped.
    The file loaded is logged.
    """

    def __init__(self, num_chans=2, calibration="", freq_hz=1.3e9, samp_rate=4e6,
                 gain_db=None, serials="", store="", allow_suspect=False,
                 allow_simulated=False, allow_unverified=False):
        gr.hier_block2.__init__(self, "calibration_apply",
                                gr.io_signature(num_chans, num_chans, gr.sizeof_gr_complex),
                                gr.io_signature(num_chans, num_chans, gr.sizeof_gr_complex))
        self.num_chans = num_chans
        self.freq_hz, self.samp_rate = float(freq_hz), float(samp_rate)
        self.gain_db = None if gain_db in (None, "") else float(gain_db)
        self.serials = [s.strip() for s in str(serials).split(",") if s.strip()]
        self.allow = {"allow_suspect": bool(allow_suspect),
                      "allow_simulated": bool(allow_simulated),
                      "allow_unverified": bool(allow_unverified)}
        self.store = calstore.Store(store or None)
        self.mults = [blocks.multiply_const_cc(1.0) for _ in range(num_chans)]
        for c, m in enumerate(self.mults):
            self.connect((self, c), m, (self, c))
        self.loader = _loader(self)
        self.message_port_register_hier_in("calibration")
        self.msg_connect(self, "calibration", self.loader, "calibration")
        self.path = None
        if calibration:
            self.load(calibration)
        else:
            p, doc = self.store.newest_match(self.freq_hz, self.samp_rate, self.gain_db,
                                             self.serials, **self.allow)
            self.load_document(doc, p)
            self.path = p

    def load(self, path):
        doc = calstore.load(path)
        self.load_document(doc, path)
        self.path = path

    def load_document(self, doc, where):
        calstore.validate(doc, where)
        why = calstore.mismatches(doc, self.freq_hz, self.samp_rate, self.gain_db, self.serials)
        if why:
            raise UserError(f"calibration {where} does not match this radio: {'; '.join(why)}")
        why = calstore.refusals(doc, **self.allow)
        if why:
            raise UserError(f"calibration {where} is not applied: {'; '.join(why)}")
        w = calstore.weights(doc, self.num_chans)
        for m, wk in zip(self.mults, w):
            m.set_k(complex(wk))
        self.weights = w
        self.document = doc
        gr.logger("calibration_apply").info(
            f"applying {where} ({doc['array']}, {doc['freq_hz'] / 1e6:.3f} MHz, created "
            f"{doc['created']}, verdict {calstore.status(doc)}"
            + (", simulated" if calstore.is_simulated(doc) else "") + ")")

    def logger_error(self, text):
        gr.logger("calibration_apply").error(text)
