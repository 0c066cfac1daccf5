/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_RECEIVER_IMPL_H
#define INCLUDED_ARRAYCAL_LOS_RECEIVER_IMPL_H

#include "frame_sync.h"
#include "los_message.h"
#include "los_picker.h"
#include "phase_rotator.h"
#include "worker_pool.h"
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
    los_receiver_impl(const std::vector<gr_complex>& packet, const los_receiver_settings& s);
    ~los_receiver_impl() override;

    void set_threshold(float threshold) override;
    void set_gps_minus_rx_time_s(double seconds) override;
    double gps_minus_rx_time_s() const override;
    void set_correct_cfo(bool correct) override;
    void set_pick(const std::string& pick) override;
    void set_threshold_db(double threshold_db) override;
    void set_window(double window) override;
    void set_predicted_delays(const std::vector<double>& delays) override;

    los_receiver_settings settings() const override { return d_settings; }
    int workers() const override { return d_pool.workers(); }
    int packet_len() const override { return d_len; }
    int period() const override { return d_sync.period(); }
    bool locked() const override { return d_sync.locked(); }
    uint64_t frames() const override { return d_sync.frames(); }
    uint64_t misses() const override { return d_sync.misses(); }
    uint64_t reacquisitions() const override { return d_sync.reacquisitions(); }
    uint64_t dropped() const override { return d_dropped; }
    uint64_t los_frames() const override { return d_los_frames; }
    uint64_t los_messages() const override { return d_los_messages; }

    bool stop() override;
    int work(int noutput_items,
             gr_vector_const_void_star& input_items,
             gr_vector_void_star& output_items) override;

private:
    //! Moose, the phase, the gap check of one frame; false when it is dropped.
    bool prepare(const frame_detection& f, gr_vector_const_void_star& in, uint64_t oldest);
    //! The held frames' per-channel stages on every worker, then their messages.
    void publish();
    static void channel_job(void* self, int worker) { static_cast<los_receiver_impl*>(self)->estimate_channels(worker); }
    void estimate_channels(int worker);

    static constexpr int COMPUTE_FRAMES = 64;
    const los_receiver_settings d_settings;
    const int d_nchan;
    const int d_len; // K
    const double d_rate;
    const uint64_t d_latency; // batch_latency_s in samples
    frame_sync d_sync;
    moose_estimator d_moose;
    los_picker d_picker;
    worker_pool d_pool;
    std::vector<std::unique_ptr<ls_estimator>> d_ls; // one per worker
    std::vector<volk::vector<gr_complex>> d_h;      // H of one channel, per worker

    mutable std::mutex d_mutex; // run-time settings
    float d_threshold;
    double d_gps_minus_rx_time_s;
    bool d_correct;

    // detected, samples not all in yet: [d_waiting_head, end) (a vector
    // compacted per call, not a deque: nothing is allocated per frame)
    std::vector<frame_detection> d_waiting;
    size_t d_waiting_head = 0;
    std::deque<uint64_t> d_anchors; // rx_time offsets not behind every frame yet
    // the CFO correction's phase, continuous over the stream as moose_cfo's:
    // d_rot holds the phase of sample d_phase_at
    phase_rotator d_rot;
    uint64_t d_phase_at = 0;

    // the batch being filled: its frames' results, and what the workers need
    los_batch d_batch;
    std::vector<uint64_t> d_batch_start; // frame start (absolute sample)
    std::vector<double> d_batch_phase, d_batch_increment;
    bool d_batch_correct = true;
    gr_vector_const_void_star* d_in = nullptr; // the current work call's inputs
    uint64_t d_oldest = 0;                     // absolute index of (*d_in)[c][0]

    std::atomic<uint64_t> d_dropped{ 0 };
    std::atomic<uint64_t> d_los_frames{ 0 };
    std::atomic<uint64_t> d_los_messages{ 0 };

    // scratch, reused
    std::vector<gr::tag_t> d_rx_tags;
    std::vector<const gr_complex*> d_base, d_frame;
    std::vector<frame_detection> d_found;
};

} // namespace arraycal
} // namespace gr

#endif
