/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_PICKER_H
#define INCLUDED_ARRAYCAL_LOS_PICKER_H

#include <gnuradio/arraycal/cir_los.h>
#include <gnuradio/logger.h>
#include <pmt/pmt.h>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gr {
namespace arraycal {

/*!
 * The LoS picking of los_estimator and los_receiver: one CIR/LoS kernel per
 * worker thread (each holds its own scratch) and the settings that may
 * change while the flowgraph runs (pick rule, threshold, window, predicted
 * delays from the "delays" port), applied to every kernel alike, so a
 * channel's estimate does not depend on the worker that computes it.
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
               int apes_len,
               int workers = 1);

    void set_pick(const std::string& pick);
    void set_threshold_db(double threshold_db);
    void set_window(double window);
    void set_predicted_delays(const std::vector<double>& delays);
    //! A "delays" message: a number or an f32/f64 vector; anything else is warned about.
    void handle_delays(const pmt::pmt_t& msg, const gr::logger_ptr& logger);

    //! Held by a work call around its estimates: settings change between frames.
    std::mutex& mutex() { return d_mutex; }
    //! Channel chan's LoS from its response H, on worker `worker`'s kernel.
    los_estimate estimate(const gr_complex* H, int chan, int worker = 0)
    {
        return d_los[worker]->estimate(H, d_predicted[chan]);
    }

private:
    const std::string d_block;
    const int d_nchan;
    std::mutex d_mutex;
    std::vector<std::unique_ptr<cir_los>> d_los; // one per worker
    std::vector<double> d_predicted;
};

} // namespace arraycal
} // namespace gr

#endif
