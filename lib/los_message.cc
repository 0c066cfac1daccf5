/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "los_message.h"

namespace gr {
namespace arraycal {

static const pmt::pmt_t KEY_SEQ = pmt::intern("seq");
static const pmt::pmt_t KEY_CFO = pmt::intern("cfo_hz");
static const pmt::pmt_t KEY_GPS_TIME = pmt::intern("gps_time");
static const pmt::pmt_t KEY_LOS = pmt::intern("los");
static const pmt::pmt_t KEY_DELAY = pmt::intern("delay_s");
static const pmt::pmt_t KEY_SNR = pmt::intern("snr_db");
static const pmt::pmt_t KEY_VALID = pmt::intern("valid");

void los_batch::resize(int capacity, int num_chans)
{
    nchan = num_chans;
    frames = 0;
    const size_t nf = static_cast<size_t>(capacity);
    const size_t nv = nf * static_cast<size_t>(num_chans);
    gps_time.resize(nf);
    seq.resize(nf);
    cfo_hz.resize(nf);
    gain.resize(nv);
    delay_s.resize(nv);
    snr_db.resize(nv);
    valid.resize(nv);
}

pmt::pmt_t los_batch::to_pmt(bool batched, int first, int count) const
{
    if (count < 0)
        count = frames - first;
    // dcons prepends a key that is known to be new: dict_add would first
    // search the dict for it and cost twice as much
    const size_t f0 = static_cast<size_t>(first), nf = static_cast<size_t>(count);
    const size_t v0 = f0 * nchan, nv = nf * nchan;
    pmt::pmt_t d = pmt::make_dict();
    d = pmt::dcons(pmt::cons(KEY_VALID, pmt::init_u8vector(nv, valid.data() + v0)), d);
    d = pmt::dcons(pmt::cons(KEY_CFO,
                             batched ? pmt::init_f64vector(nf, cfo_hz.data() + f0)
                                     : pmt::from_double(cfo_hz[f0])),
                   d);
    d = pmt::dcons(pmt::cons(KEY_SNR, pmt::init_f64vector(nv, snr_db.data() + v0)), d);
    d = pmt::dcons(pmt::cons(KEY_DELAY, pmt::init_f64vector(nv, delay_s.data() + v0)), d);
    d = pmt::dcons(pmt::cons(KEY_LOS, pmt::init_c32vector(nv, gain.data() + v0)), d);
    d = pmt::dcons(pmt::cons(KEY_SEQ,
                             batched ? pmt::init_u64vector(nf, seq.data() + f0)
                                     : pmt::from_uint64(seq[f0])),
                   d);
    d = pmt::dcons(pmt::cons(KEY_GPS_TIME,
                             batched ? pmt::init_f64vector(nf, gps_time.data() + f0)
                                     : pmt::from_double(gps_time[f0])),
                   d);
    return d;
}

const char* read_los(const pmt::pmt_t& msg, los_view& out)
{
    if (!pmt::is_dict(msg) || pmt::is_null(msg))
        return "not a dict";
    const pmt::pmt_t nil = pmt::PMT_NIL;
    const pmt::pmt_t t = pmt::dict_ref(msg, KEY_GPS_TIME, nil);
    const pmt::pmt_t seq = pmt::dict_ref(msg, KEY_SEQ, nil);
    const pmt::pmt_t los = pmt::dict_ref(msg, KEY_LOS, nil);
    const pmt::pmt_t delay = pmt::dict_ref(msg, KEY_DELAY, nil);
    const pmt::pmt_t snr = pmt::dict_ref(msg, KEY_SNR, nil);
    if (!pmt::is_c32vector(los) || !pmt::is_f64vector(delay) || !pmt::is_f64vector(snr))
        return "los (c32), delay_s and snr_db (f64) missing or mistyped";
    if (pmt::is_f64vector(t)) { // a batch
        if (!pmt::is_u64vector(seq))
            return "a batch's seq must be a u64 vector";
        size_t nt = 0, ns = 0;
        out.gps_time = pmt::f64vector_elements(t, nt);
        out.seq = pmt::u64vector_elements(seq, ns);
        if (nt == 0 || ns != nt)
            return "a batch's gps_time and seq differ in length or are empty";
        out.frames = nt;
    } else {
        if (!(pmt::is_real(t) || pmt::is_integer(t)) ||
            !(pmt::is_uint64(seq) || pmt::is_integer(seq)))
            return "gps_time and seq missing or mistyped";
        out.one_gps_time = pmt::to_double(t);
        // an unsigned 64-bit count; an integer PMT is a long
        out.one_seq =
            pmt::is_uint64(seq) ? pmt::to_uint64(seq) : static_cast<uint64_t>(pmt::to_long(seq));
        out.gps_time = &out.one_gps_time;
        out.seq = &out.one_seq;
        out.frames = 1;
    }
    size_t n = 0, nd = 0, ns = 0;
    out.gain = pmt::c32vector_elements(los, n);
    out.delay_s = pmt::f64vector_elements(delay, nd);
    out.snr_db = pmt::f64vector_elements(snr, ns);
    if (n == 0 || nd != n || ns != n || n % out.frames != 0)
        return "los, delay_s and snr_db differ in length or do not hold every frame";
    out.n = n / out.frames;
    // optional (hand-made messages may leave it out): every channel valid then
    const pmt::pmt_t valid = pmt::dict_ref(msg, KEY_VALID, nil);
    out.valid = nullptr;
    if (pmt::is_u8vector(valid)) {
        size_t nv = 0;
        out.valid = pmt::u8vector_elements(valid, nv);
        if (nv != n)
            return "valid does not hold every frame's channels";
    }
    return nullptr;
}

} // namespace arraycal
} // namespace gr
