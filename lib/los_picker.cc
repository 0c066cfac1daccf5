/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "los_picker.h"
#include <stdexcept>

namespace gr {
namespace arraycal {

los_picker::los_picker(const std::string& block,
                       int K,
                       int num_chans,
                       const std::string& method,
                       const std::string& pick,
                       int zero_pad,
                       double threshold_db,
                       double window,
                       int apes_len,
                       int workers)
    : d_block(block), d_nchan(num_chans), d_predicted(num_chans, 0.0)
{
    if (method != "apes" && method != "fft")
        throw std::invalid_argument(d_block + ": method must be fft or apes, not '" + method +
                                    "'");
    if (workers < 1)
        throw std::invalid_argument(d_block + ": need at least one worker");
    const los_pick mode = los_pick_from_string(pick);
    for (int w = 0; w < workers; ++w) {
        d_los.push_back(std::make_unique<cir_los>(K, zero_pad, mode, threshold_db, window));
        if (method == "apes")
            d_los.back()->set_apes(apes_len);
    }
}

void los_picker::set_pick(const std::string& pick)
{
    const los_pick p = los_pick_from_string(pick);
    std::lock_guard<std::mutex> lock(d_mutex);
    for (auto& l : d_los)
        l->set_mode(p);
}

void los_picker::set_threshold_db(double threshold_db)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    for (auto& l : d_los)
        l->set_threshold_db(threshold_db);
}

void los_picker::set_window(double window)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    for (auto& l : d_los)
        l->set_window(window);
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
