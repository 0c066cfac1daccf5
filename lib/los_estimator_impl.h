/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_ESTIMATOR_IMPL_H
#define INCLUDED_ARRAYCAL_LOS_ESTIMATOR_IMPL_H

#include "los_message.h"
#include "los_picker.h"
#include <gnuradio/arraycal/cir_los.h>
#include <gnuradio/arraycal/los_estimator.h>
#include <atomic>
#include <memory>
#include <mutex>

namespace gr {
namespace arraycal {

class los_estimator_impl : public los_estimator
{
public:
    los_estimator_impl(int packet_len,
                       int num_chans,
                       double samp_rate,
                       const std::string& method,
                       const std::string& pick,
                       int zero_pad,
                       double threshold_db,
                       double window,
                       int apes_len);

    void set_pick(const std::string& pick) override;
    void set_threshold_db(double threshold_db) override;
    void set_window(double window) override;
    void set_predicted_delays(const std::vector<double>& delays) override;
    uint64_t frames() const override { return d_frames; }

    int work(int noutput_items,
             gr_vector_const_void_star& input_items,
             gr_vector_void_star& output_items) override;

private:
    const int d_len;
    const int d_nchan;
    const double d_rate;
    los_picker d_picker;
    std::atomic<uint64_t> d_frames{ 0 };
    // per-call scratch, reused
    std::vector<gr::tag_t> d_tags;
    los_batch d_out; // one frame
};

} // namespace arraycal
} // namespace gr

#endif
