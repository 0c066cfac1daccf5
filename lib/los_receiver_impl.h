/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_RECEIVER_IMPL_H
#define INCLUDED_ARRAYCAL_LOS_RECEIVER_IMPL_H

#include "frame_sync.h"
#include "los_message.h"
#include "phase_rotator.h"
#include <gnuradio/arraycal/cir_los.h>
#include <gnuradio/arraycal/los_receiver.h>
#include <gnuradio/arraycal/ls_estimator.h>
#include <gnuradio/arraycal/moose_estimator.h>
#include <volk/volk_alloc.hh>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>

namespace gr {
namespace arraycal {

class los_receiver_impl : public los_receiver
{
public:
    los_receiver_impl(const std::vector<gr_complex>& packet,
                      int num_chans,
                      double samp_rate,
                      int preamble_len,
                      int half_len,
                      float threshold,
                      int period,
                      int track_window,
                      int max_misses,
                      double time_offset_s,
                      bool correct_cfo,
                      const std::string& method,
                      const std::string& pick,
                      int zero_pad,
                      double threshold_db,
                      double window,
                      int apes_len);

    void set_threshold(float threshold) override;
    void set_time_offset(double seconds) override;
    void set_correct_cfo(bool correct) override;
    void set_pick(const std::string& pick) override;
    void set_threshold_db(double threshold_db) override;
    void set_window(double window) override;
    void set_predicted_delays(const std::vector<double>& delays) override;

    int packet_len() const override { return d_len; }
    int period() const override { return d_sync.period(); }
    bool locked() const override { return d_sync.locked(); }
    uint64_t frames() const override { return d_sync.frames(); }
    uint64_t misses() const override { return d_sync.misses(); }
    uint64_t reacquisitions() const override { return d_sync.reacquisitions(); }
    uint64_t dropped() const override { return d_dropped; }
    uint64_t los_frames() const override { return d_los_frames; }

    int work(int noutput_items,
             gr_vector_const_void_star& input_items,
             gr_vector_void_star& output_items) override;

private:
    void process(const frame_detection& f, gr_vector_const_void_star& in, uint64_t oldest);

    const int d_nchan;
    const int d_len; // K
    const double d_rate;
    frame_sync d_sync;
    moose_estimator d_moose;
    ls_estimator d_ls;
    los_picker d_picker;

    std::mutex d_mutex; // run-time settings
    float d_threshold;
    double d_time_offset;
    bool d_correct;

    std::deque<frame_detection> d_waiting; // detected, samples not all in yet
    std::deque<uint64_t> d_anchors;        // rx_time offsets not behind every frame yet
    // the CFO correction's phase, continuous over the stream as moose_cfo's:
    // d_rot holds the phase of sample d_phase_at
    phase_rotator d_rot;
    uint64_t d_phase_at = 0;

    std::atomic<uint64_t> d_dropped{ 0 };
    std::atomic<uint64_t> d_los_frames{ 0 };

    // scratch, reused
    std::vector<gr::tag_t> d_rx_tags;
    std::vector<const gr_complex*> d_base, d_frame;
    std::vector<frame_detection> d_found;
    volk::vector<gr_complex> d_h;
    los_frame d_out;
};

} // namespace arraycal
} // namespace gr

#endif
