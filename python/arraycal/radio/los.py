#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The LoS message of los_receiver / los_estimator / rx_chain, read into numpy.

One reader for both shapes of the message (docs/blocks.md, "LoS message"):
the single-frame dict (scalar gps_time, seq, cfo_hz) and the batch dict
(every field a vector with a leading frame axis, per-channel fields
frame-major). decode() returns the same thing for both: a dict of numpy
arrays with a leading frame axis, so a consumer pays per message, not per
frame.
"""

import numpy as np
import pmt

_KEYS = {k: pmt.intern(k) for k in ("gps_time", "seq", "los", "delay_s", "snr_db", "valid",
                                    "cfo_hz")}


class LosMessageError(ValueError):
    """A message that is not a LoS message (a wrong type, or fields that disagree)."""


def _field(msg, key):
    v = pmt.dict_ref(msg, _KEYS[key], pmt.PMT_NIL)
    if pmt.is_null(v):
        raise LosMessageError(f"LoS message without '{key}'")
    return v


def _vector(v, is_type, elements, dtype, key):
    if not is_type(v):
        raise LosMessageError(f"LoS message field '{key}' has the wrong type")
    return np.asarray(elements(v), dtype=dtype)


def decode(msg):
    """A LoS message (single-frame or batch) -> dict of numpy arrays, n frames, N channels.

    gps_time f64[n], seq u64[n], cfo_hz f64[n]; los c64[n, N], delay_s f64[n, N],
    snr_db f64[n, N], valid bool[n, N]. Raises LosMessageError for anything else.
    """
    if not pmt.is_dict(msg):
        raise LosMessageError("a LoS message is a dict")
    t = _field(msg, "gps_time")
    seq = _field(msg, "seq")
    cfo = _field(msg, "cfo_hz")
    if pmt.is_f64vector(t):  # a batch
        gps_time = _vector(t, pmt.is_f64vector, pmt.f64vector_elements, np.float64, "gps_time")
        seqs = _vector(seq, pmt.is_u64vector, pmt.u64vector_elements, np.uint64, "seq")
        cfo_hz = _vector(cfo, pmt.is_f64vector, pmt.f64vector_elements, np.float64, "cfo_hz")
    else:
        if not (pmt.is_real(t) or pmt.is_integer(t)) or not (
                pmt.is_uint64(seq) or pmt.is_integer(seq)) or not pmt.is_real(cfo):
            raise LosMessageError("LoS message: gps_time, seq or cfo_hz has the wrong type")
        gps_time = np.array([pmt.to_double(t)])
        seqs = np.array([pmt.to_uint64(seq) if pmt.is_uint64(seq) else pmt.to_long(seq)],
                        dtype=np.uint64)
        cfo_hz = np.array([pmt.to_double(cfo)])
    n = gps_time.size
    if n == 0 or seqs.size != n or cfo_hz.size != n:
        raise LosMessageError("LoS message: gps_time, seq and cfo_hz differ in length")
    los = _vector(_field(msg, "los"), pmt.is_c32vector, pmt.c32vector_elements, np.complex64,
                  "los")
    delay = _vector(_field(msg, "delay_s"), pmt.is_f64vector, pmt.f64vector_elements,
                    np.float64, "delay_s")
    snr = _vector(_field(msg, "snr_db"), pmt.is_f64vector, pmt.f64vector_elements, np.float64,
                  "snr_db")
    if los.size == 0 or los.size % n or delay.size != los.size or snr.size != los.size:
        raise LosMessageError("LoS message: los, delay_s and snr_db do not hold every frame")
    nch = los.size // n
    valid = _vector(_field(msg, "valid"), pmt.is_u8vector, pmt.u8vector_elements, np.uint8,
                    "valid") != 0
    if valid.size != los.size:
        raise LosMessageError("LoS message: valid does not hold every frame and channel")
    return {"gps_time": gps_time, "seq": seqs, "cfo_hz": cfo_hz,
            "los": los.reshape(n, nch), "delay_s": delay.reshape(n, nch),
            "snr_db": snr.reshape(n, nch), "valid": valid.reshape(n, nch)}
