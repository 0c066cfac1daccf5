/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_ZC_SYNC_IMPL_H
#define INCLUDED_ARRAYCAL_ZC_SYNC_IMPL_H

#include "sample_clock.h"
#include <gnuradio/arraycal/preamble_correlator.h>
#include <gnuradio/arraycal/zc_sync.h>
#include <map>
#include <mutex>

namespace gr {
namespace arraycal {

class zc_sync_impl : public zc_sync
{
public:
    zc_sync_impl(const std::vector<gr_complex>& preamble,
                 int num_chans,
                 float threshold,
                 int period,
                 int track_window,
                 int max_misses,
                 double samp_rate,
                 double time_offset_s,
                 int segments);

    void set_threshold(float threshold) override;
    float threshold() const override;
    void set_time_offset(double seconds) override;
    double time_offset() const override;
    int delay() const override { return d_delay; }
    int period() const override { return d_period; }
    bool locked() const override { return d_state == state::track; }
    uint64_t frames() const override { return d_seq; }
    uint64_t misses() const override { return d_misses_total; }
    uint64_t reacquisitions() const override { return d_reacq; }

    int work(int noutput_items,
             gr_vector_const_void_star& input_items,
             gr_vector_void_star& output_items) override;

private:
    enum class state { acquire, track };

    void detect(uint64_t m, float peak, float frac);
    void advance_clock(uint64_t m);
    void note_detection_for_period(uint64_t m);
    void metric_range_abs(uint64_t m, int count, float* out);
    void enter_acquire(uint64_t from);

    preamble_correlator d_corr;
    const int d_nchan;
    const int d_len;      // preamble length L
    const int d_win;      // acquisition half-window W (= L)
    const int d_delay;    // D = W + L - 1
    int d_period;
    const int d_track;    // tracking half-width
    const int d_max_misses;
    const double d_rate;

    mutable std::mutex d_mutex;
    float d_threshold;
    double d_time_offset;

    state d_state = state::acquire;
    uint64_t d_expected = 0;  // expected start while tracking
    uint64_t d_acq_from = 0;  // acquisition resumes here
    int d_miss_run = 0;
    uint64_t d_seq = 0;
    uint64_t d_misses_total = 0;
    uint64_t d_reacq = 0;
    bool d_have_last = false;
    uint64_t d_last_det = 0;
    int64_t d_last_spacing = -1;

    sample_clock d_clock;
    std::multimap<uint64_t, std::pair<pmt::pmt_t, pmt::pmt_t>> d_pending; // offset -> (key, value)
    std::vector<gr::tag_t> d_rx_tags; // rx_time tags of one call (kept: no allocation per call)

    // per-call view of the input, used by the metric helpers
    std::vector<const gr_complex*> d_base; // in[c] at candidate m0 - W
    uint64_t d_m0 = 0;                     // first candidate of this call
    std::vector<float> d_block;            // acquisition metric, candidates m0-W .. m0+n+W
    bool d_block_valid = false;
    std::vector<float> d_track_metric;
};

} // namespace arraycal
} // namespace gr

#endif
