/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "los_message.h"
#include <stdexcept>

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
    if (!(pmt::is_real(t) || pmt::is_integer(t)) ||
        !(pmt::is_uint64(seq) || pmt::is_integer(seq)) || !pmt::is_c32vector(los) ||
        !pmt::is_f64vector(delay) || !pmt::is_f64vector(snr))
        return "gps_time, seq, los (c32), delay_s and snr_db (f64) missing or mistyped";
    size_t n = 0, nd = 0, ns = 0;
    out.gain = pmt::c32vector_elements(los, n);
    out.delay_s = pmt::f64vector_elements(delay, nd);
    out.snr_db = pmt::f64vector_elements(snr, ns);
    if (n == 0 || nd != n || ns != n)
        return "los, delay_s and snr_db differ in length";
    out.n = n;
    out.gps_time = pmt::to_double(t);
    // an unsigned 64-bit count; an integer PMT is a long
    out.seq = pmt::is_uint64(seq) ? pmt::to_uint64(seq) : static_cast<uint64_t>(pmt::to_long(seq));
    return nullptr;
}

los_picker::los_picker(const std::string& block,
                       int K,
                       int num_chans,
                       const std::string& method,
                       const std::string& pick,
                       int zero_pad,
                       double threshold_db,
                       double window,
                       int apes_len)
    : d_block(block),
      d_nchan(num_chans),
      d_los(std::make_unique<cir_los>(
          K, zero_pad, los_pick_from_string(pick), threshold_db, window)),
      d_predicted(num_chans, 0.0)
{
    if (method == "apes")
        d_los->set_apes(apes_len);
    else if (method != "fft")
        throw std::invalid_argument(d_block + ": method must be fft or apes, not '" + method +
                                    "'");
}

void los_picker::set_pick(const std::string& pick)
{
    const los_pick p = los_pick_from_string(pick);
    std::lock_guard<std::mutex> lock(d_mutex);
    d_los->set_mode(p);
}

void los_picker::set_threshold_db(double threshold_db)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    d_los->set_threshold_db(threshold_db);
}

void los_picker::set_window(double window)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    d_los->set_window(window);
}

void los_picker::set_predicted_delays(const std::vector<double>& delays)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    if (delays.size() == 1)
        d_predicted.assign(d_nchan, delays[0]);
    else if (static_cast<int>(delays.size()) == d_nchan)
        d_predicted = delays;
    else
        throw std::invalid_argument(d_block + ": need 1 or num_chans predicted delays");
}

void los_picker::handle_delays(const pmt::pmt_t& msg, const gr::logger_ptr& logger)
{
    std::vector<double> d;
    if (pmt::is_f64vector(msg))
        d = pmt::f64vector_elements(msg);
    else if (pmt::is_f32vector(msg)) {
        for (float v : pmt::f32vector_elements(msg))
            d.push_back(v);
    } else if (pmt::is_real(msg) || pmt::is_integer(msg))
        d.push_back(pmt::to_double(msg));
    else {
        logger->warn("delays message must be a number or a f32/f64 vector; ignored");
        return;
    }
    try {
        set_predicted_delays(d);
    } catch (const std::invalid_argument& e) {
        logger->warn("{:s}; ignored", e.what());
    }
}

} // namespace arraycal
} // namespace gr
