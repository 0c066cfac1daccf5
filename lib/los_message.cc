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

pmt::pmt_t los_frame::to_pmt() const
{
    // dcons prepends a key that is known to be new: dict_add would first
    // search the dict for it and cost twice as much, once per frame
    const size_t n = gain.size();
    pmt::pmt_t d = pmt::make_dict();
    d = pmt::dcons(pmt::cons(KEY_VALID, pmt::init_u8vector(n, valid)), d);
    d = pmt::dcons(pmt::cons(KEY_CFO, pmt::from_double(cfo_hz)), d);
    d = pmt::dcons(pmt::cons(KEY_SNR, pmt::init_f64vector(n, snr_db)), d);
    d = pmt::dcons(pmt::cons(KEY_DELAY, pmt::init_f64vector(n, delay_s)), d);
    d = pmt::dcons(pmt::cons(KEY_LOS, pmt::init_c32vector(n, gain)), d);
    d = pmt::dcons(pmt::cons(KEY_SEQ, pmt::from_uint64(seq)), d);
    d = pmt::dcons(pmt::cons(KEY_GPS_TIME, pmt::from_double(gps_time)), d);
    return d;
}

bool parse_delays(const pmt::pmt_t& msg, std::vector<double>& out, gr::logger_ptr logger)
{
    out.clear();
    if (pmt::is_f64vector(msg))
        out = pmt::f64vector_elements(msg);
    else if (pmt::is_f32vector(msg)) {
        for (float v : pmt::f32vector_elements(msg))
            out.push_back(v);
    } else if (pmt::is_real(msg) || pmt::is_integer(msg))
        out.push_back(pmt::to_double(msg));
    else {
        logger->warn("delays message must be a number or a f32/f64 vector; ignored");
        return false;
    }
    return true;
}

} // namespace arraycal
} // namespace gr
