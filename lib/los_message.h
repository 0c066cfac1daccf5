/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_MESSAGE_H
#define INCLUDED_ARRAYCAL_LOS_MESSAGE_H

#include <gnuradio/gr_complex.h>
#include <gnuradio/logger.h>
#include <pmt/pmt.h>
#include <cstdint>
#include <vector>

namespace gr {
namespace arraycal {

//! One frame's LoS, all channels: the fields of DESIGN.md's LoS message.
struct los_frame {
    double gps_time = 0.0;
    uint64_t seq = 0;
    double cfo_hz = 0.0;
    std::vector<gr_complex> gain;
    std::vector<double> delay_s;
    std::vector<double> snr_db;
    std::vector<uint8_t> valid;

    void resize(int nchan)
    {
        gain.resize(nchan);
        delay_s.resize(nchan);
        snr_db.resize(nchan);
        valid.resize(nchan);
    }
    //! The LoS message (a dict) of los_estimator and los_receiver.
    pmt::pmt_t to_pmt() const;
};

/*!
 * Predicted delays from a "delays" message (a number, or an f32/f64
 * vector); false, with a warning, for anything else.
 */
bool parse_delays(const pmt::pmt_t& msg, std::vector<double>& out, gr::logger_ptr logger);

} // namespace arraycal
} // namespace gr

#endif
