/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_FRAME_SYNC_H
#define INCLUDED_ARRAYCAL_FRAME_SYNC_H

#include "sample_clock.h"
#include <gnuradio/arraycal/preamble_correlator.h>
#include <cstdint>
#include <vector>

namespace gr {
namespace arraycal {

//! One detected frame.
struct frame_detection {
    uint64_t start = 0; //!< absolute input index of the preamble's first sample
    uint64_t seq = 0;
    float peak = 0.0f;  //!< metric at the peak, 0..1
    float frac = 0.0f;  //!< fractional timing, samples in [-0.5, 0.5]
    split_time time;    //!< time of the first sample (rx_time clock + offset)
    double snr_db() const;
};

/*!
 * \brief ZC frame detection state machine over N channels (one timing for all).
 *
 * Acquisition: the normalised metric (explained energy fraction) of every
 * candidate, a detection where it is above the threshold and the largest
 * within +-L. Tracking, once the packet period is known (given, or learnt
 * from two equal spacings): only +-track_window around the expected start,
 * re-acquisition after more than max_misses misses in a row or at a gap
 * (a new rx_time anchor). Shared by zc_sync (tags) and los_receiver (the
 * fused chain); the result does not depend on how the stream is cut into
 * calls.
 */
class frame_sync
{
public:
    frame_sync(const std::vector<gr_complex>& preamble,
               int num_chans,
               int period,
               int track_window,
               int max_misses,
               double samp_rate,
               int segments);

    int preamble_len() const { return d_len; }
    //! Samples needed before the first candidate of a scan.
    int lookback() const { return d_win; }
    //! Samples needed after the last candidate of a scan (W + L - 1).
    int lookahead() const { return d_win + d_len - 1; }

    //! An rx_time tag at its absolute input offset (offsets in order).
    void push_time(const gr::tag_t& tag) { d_clock.push(tag); }

    /*!
     * Decide candidates first .. first+n-1 (absolute input indices, the
     * next call continues at first+n). chans[c] points at sample
     * first - lookback() and must hold n + lookback() + lookahead() samples.
     * Detections are appended to out.
     */
    void scan(const std::vector<const gr_complex*>& chans,
              uint64_t first,
              int n,
              float threshold,
              double gps_minus_rx_time_s,
              std::vector<frame_detection>& out);

    int period() const { return d_period; }
    bool locked() const { return d_state == state::track; }
    uint64_t frames() const { return d_seq; }
    uint64_t misses() const { return d_misses_total; }
    uint64_t reacquisitions() const { return d_reacq; }

private:
    enum class state { acquire, track };

    void detect(uint64_t m, float peak, float frac, double gps_minus_rx_time_s,
                std::vector<frame_detection>& out);
    void advance_clock(uint64_t m);
    void note_detection_for_period(uint64_t m);
    void metric_range_abs(uint64_t m, int count, float* out);
    void enter_acquire(uint64_t from);

    preamble_correlator d_corr;
    const int d_nchan;
    const int d_len;   // preamble length L
    const int d_win;   // acquisition half-window W (= L)
    int d_period;
    const int d_track; // tracking half-width
    const int d_max_misses;

    state d_state = state::acquire;
    uint64_t d_expected = 0; // expected start while tracking
    uint64_t d_acq_from = 0; // acquisition resumes here
    int d_miss_run = 0;
    uint64_t d_seq = 0;
    uint64_t d_misses_total = 0;
    uint64_t d_reacq = 0;
    bool d_have_last = false;
    uint64_t d_last_det = 0;
    int64_t d_last_spacing = -1;

    sample_clock d_clock;

    // per-scan view of the input
    const std::vector<const gr_complex*>* d_base = nullptr; // at candidate m0 - W
    uint64_t d_m0 = 0;                                      // first candidate of the scan
    std::vector<float> d_block; // acquisition metric, candidates m0-W .. m0+n+W
    bool d_block_valid = false;
    std::vector<float> d_track_metric;
};

} // namespace arraycal
} // namespace gr

#endif
