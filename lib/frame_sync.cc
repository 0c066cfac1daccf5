/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "frame_sync.h"
#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace gr {
namespace arraycal {

double frame_detection::snr_db() const
{
    // the metric is the explained energy fraction: SNR = M / (1 - M)
    const double pk = std::min(0.999999, static_cast<double>(peak));
    return 10.0 * std::log10(pk / (1.0 - pk));
}

frame_sync::frame_sync(const std::vector<gr_complex>& preamble,
                       int num_chans,
                       int period,
                       int track_window,
                       int max_misses,
                       double samp_rate,
                       int segments)
    : d_corr(preamble, segments),
      d_nchan(num_chans),
      d_len(static_cast<int>(preamble.size())),
      d_win(static_cast<int>(preamble.size())),
      d_period(period),
      d_track(track_window),
      d_max_misses(max_misses),
      d_clock(samp_rate)
{
    if (num_chans < 1)
        throw std::invalid_argument("frame sync: num_chans must be >= 1");
    if (period < 0)
        throw std::invalid_argument("frame sync: period must be >= 0 (0 = learn)");
    if (period > 0 && period <= d_len)
        throw std::invalid_argument("frame sync: period must be longer than the preamble");
    if (track_window < 1 || 2 * track_window + 1 > d_win)
        throw std::invalid_argument("frame sync: track_window must be in [1, (L-1)/2]");
    if (max_misses < 0)
        throw std::invalid_argument("frame sync: max_misses must be >= 0");
    if (!(samp_rate > 0.0))
        throw std::invalid_argument("frame sync: samp_rate must be > 0");
    d_track_metric.resize(2 * d_track + 3);
}

void frame_sync::metric_range_abs(uint64_t m, int count, float* out)
{
    // (*d_base)[c] points at candidate m0 - W
    const int rel = static_cast<int>(static_cast<int64_t>(m - d_m0) + d_win);
    d_corr.metric_range(*d_base, rel, count, out);
}

void frame_sync::enter_acquire(uint64_t from)
{
    if (d_state == state::track)
        d_reacq++;
    d_state = state::acquire;
    d_acq_from = from;
    d_miss_run = 0;
}

void frame_sync::note_detection_for_period(uint64_t m)
{
    if (d_period > 0)
        return;
    // learn the period from two equal spacings in a row (+-1 sample)
    static const int64_t max_period = 1 << 22;
    if (d_have_last) {
        const int64_t d = static_cast<int64_t>(m - d_last_det);
        if (d > d_len && d < max_period) {
            if (d_last_spacing > 0 && std::llabs(d - d_last_spacing) <= 1)
                d_period = static_cast<int>(d);
            d_last_spacing = d;
        }
    }
}

void frame_sync::advance_clock(uint64_t m)
{
    // A new rx_time anchor after the first one is a gap in the samples (a
    // USRP overflow): the packet period no longer holds across it.
    if (d_clock.advance(m)) {
        d_have_last = false;
        d_last_spacing = -1;
        enter_acquire(m);
    }
}

void frame_sync::detect(uint64_t m, float peak, float frac, double gps_minus_rx_time_s,
                        std::vector<frame_detection>& out)
{
    advance_clock(m);
    frame_detection d;
    d.start = m;
    d.seq = d_seq++;
    d.peak = peak;
    d.frac = frac;
    d.time = d_clock.time_of(m, gps_minus_rx_time_s);
    out.push_back(d);

    note_detection_for_period(m);
    d_have_last = true;
    d_last_det = m;
    if (d_period > 0) {
        d_state = state::track;
        d_expected = m + d_period;
        d_miss_run = 0;
    } else {
        d_acq_from = m + 1;
    }
}

// Fractional timing from the metric at the peak and its neighbours. The
// correlation magnitude of a white, band-limited preamble is a sinc in the
// timing error t, and sinc(1-t) / (sinc(t) + sinc(1-t)) = t exactly (same
// sine on top), so interpolate linearly between sqrt(M) at the peak and its
// larger neighbour. (A parabola through M is biased by up to 0.3 samples at
// one sample per symbol: sinc^2 is far from a parabola.)
static float frac_offset(float ym, float y0, float yp)
{
    const float a = std::sqrt(std::max(ym, 0.0f));
    const float b = std::sqrt(std::max(y0, 0.0f));
    const float c = std::sqrt(std::max(yp, 0.0f));
    float d = 0.0f;
    if (c >= a && b + c > 0.0f)
        d = c / (b + c);
    else if (a > c && a + b > 0.0f)
        d = -a / (a + b);
    return std::max(-0.5f, std::min(0.5f, d));
}

void frame_sync::scan(const std::vector<const gr_complex*>& chans,
                      uint64_t first,
                      int n,
                      float threshold,
                      double gps_minus_rx_time_s,
                      std::vector<frame_detection>& out)
{
    const int W = d_win;
    d_base = &chans;
    d_m0 = first;
    // A stream starts with zeros of history before its sample 0: candidates
    // before it (first wrapped below zero) are not decided.
    const int64_t sfirst = static_cast<int64_t>(first);
    int i = sfirst < 0 ? static_cast<int>(std::min<int64_t>(-sfirst, n)) : 0;
    d_block_valid = false;

    while (i < n) {
        advance_clock(d_m0 + i);
        if (d_state == state::track) {
            const uint64_t decide_at = d_expected - d_track;
            // A gap before the end of the next tracking window voids the
            // expected position: acquire from the gap itself. Checked before
            // anything else, so that acquisition never starts after frames
            // that follow the gap closely (whatever the call boundaries).
            const uint64_t gap = d_clock.next_anchor();
            if (gap <= d_expected + d_track + d_len) {
                if (gap >= d_m0 + n)
                    break;
                i = static_cast<int>(gap - d_m0);
                advance_clock(gap);
                continue;
            }
            if (decide_at >= d_m0 + n)
                break;
            auto& mv = d_track_metric;
            metric_range_abs(d_expected - d_track - 1, 2 * d_track + 3, mv.data());
            int best = 1;
            for (int k = 2; k <= 2 * d_track + 1; ++k)
                if (mv[k] > mv[best])
                    best = k;
            const uint64_t mb = d_expected - d_track - 1 + best;
            if (mv[best] >= threshold) {
                detect(mb,
                       mv[best],
                       frac_offset(mv[best - 1], mv[best], mv[best + 1]),
                       gps_minus_rx_time_s,
                       out);
            } else {
                d_misses_total++;
                d_miss_run++;
                if (d_miss_run > d_max_misses)
                    enter_acquire(decide_at);
                else
                    d_expected += d_period;
            }
            i = static_cast<int>(decide_at - d_m0) + 1;
            continue;
        }
        // acquisition over the rest of this scan
        if (!d_block_valid) {
            // candidates m0-W .. m0+n+W-1 need input up to m0+n+W+L-2: the
            // newest sample the caller holds
            const int nb = n + 2 * W;
            d_block.resize(nb);
            d_corr.metric_block(chans, nb, d_block.data());
            d_block_valid = true;
        }
        bool found = false;
        for (; i < n; ++i) {
            const uint64_t mm = d_m0 + i;
            advance_clock(mm);
            if (mm < d_acq_from)
                continue;
            const int b = i + W;
            const float v = d_block[b];
            if (v < threshold)
                continue;
            bool is_max = true;
            for (int k = b - W; k < b && is_max; ++k)
                is_max = d_block[k] < v;
            for (int k = b + 1; k <= b + W && is_max; ++k)
                is_max = d_block[k] <= v;
            if (!is_max)
                continue;
            detect(mm, v, frac_offset(d_block[b - 1], v, d_block[b + 1]), gps_minus_rx_time_s, out);
            ++i;
            found = true;
            break;
        }
        if (!found)
            break;
    }
    d_base = nullptr;
}

} // namespace arraycal
} // namespace gr
