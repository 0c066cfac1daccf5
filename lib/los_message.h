/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_MESSAGE_H
#define INCLUDED_ARRAYCAL_LOS_MESSAGE_H

#include <gnuradio/arraycal/cir_los.h>
#include <gnuradio/gr_complex.h>
#include <gnuradio/logger.h>
#include <pmt/pmt.h>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gr {
namespace arraycal {

//! One frame's LoS, all channels: the fields of docs/design.md's LoS message.
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

//! A LoS message's fields as a consumer reads them, pointing into the message.
struct los_view {
    double gps_time = 0.0;
    uint64_t seq = 0;
    size_t n = 0; //!< channels
    const gr_complex* gain = nullptr;
    const double* delay_s = nullptr;
    const double* snr_db = nullptr;
};

//! Reads a LoS message (to_pmt's dict): nullptr when it is one, else why not.
const char* read_los(const pmt::pmt_t& msg, los_view& out);

/*!
 * The LoS picking of los_estimator and los_receiver: the CIR/LoS kernel and
 * the settings that may change while the flowgraph runs (pick rule,
 * threshold, window, predicted delays from the "delays" port).
 */
class los_picker
{
public:
    los_picker(const std::string& block,
               int K,
               int num_chans,
               const std::string& method,
               const std::string& pick,
               int zero_pad,
               double threshold_db,
               double window,
               int apes_len);

    void set_pick(const std::string& pick);
    void set_threshold_db(double threshold_db);
    void set_window(double window);
    void set_predicted_delays(const std::vector<double>& delays);
    //! A "delays" message: a number or an f32/f64 vector; anything else is warned about.
    void handle_delays(const pmt::pmt_t& msg, const gr::logger_ptr& logger);

    //! Held by a work call around its estimates: settings change between frames.
    std::mutex& mutex() { return d_mutex; }
    los_estimate estimate(const gr_complex* H, int chan)
    {
        return d_los->estimate(H, d_predicted[chan]);
    }

private:
    const std::string d_block;
    const int d_nchan;
    std::mutex d_mutex;
    std::unique_ptr<cir_los> d_los;
    std::vector<double> d_predicted;
};

} // namespace arraycal
} // namespace gr

#endif
