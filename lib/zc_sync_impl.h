/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_ZC_SYNC_IMPL_H
#define INCLUDED_ARRAYCAL_ZC_SYNC_IMPL_H

#include "frame_sync.h"
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
                 double gps_minus_rx_time_s,
                 int segments);

    void set_threshold(float threshold) override;
    float threshold() const override;
    void set_gps_minus_rx_time_s(double seconds) override;
    double gps_minus_rx_time_s() const override;
    int delay() const override { return d_delay; }
    int period() const override { return d_sync.period(); }
    bool locked() const override { return d_sync.locked(); }
    uint64_t frames() const override { return d_sync.frames(); }
    uint64_t misses() const override { return d_sync.misses(); }
    uint64_t reacquisitions() const override { return d_sync.reacquisitions(); }

    int work(int noutput_items,
             gr_vector_const_void_star& input_items,
             gr_vector_void_star& output_items) override;

private:
    frame_sync d_sync;
    const int d_nchan;
    const int d_delay; // D = W + L - 1

    mutable std::mutex d_mutex;
    float d_threshold;
    double d_gps_minus_rx_time_s;

    std::multimap<uint64_t, std::pair<pmt::pmt_t, pmt::pmt_t>> d_pending; // offset -> (key, value)
    std::vector<gr::tag_t> d_rx_tags; // rx_time tags of one call (kept: no allocation per call)
    std::vector<const gr_complex*> d_base; // in[c] at candidate m0 - W
    std::vector<frame_detection> d_found;
};

} // namespace arraycal
} // namespace gr

#endif
