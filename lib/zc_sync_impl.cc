/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "zc_sync_impl.h"
#include <gnuradio/io_signature.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace gr {
namespace arraycal {

static const pmt::pmt_t KEY_FRAME = pmt::intern("arraycal_frame");
static const pmt::pmt_t KEY_GNSS_TIME = pmt::intern("gnss_time");
static const pmt::pmt_t KEY_RX_TIME = pmt::intern("rx_time");
static const pmt::pmt_t KEY_SEQ = pmt::intern("seq");
static const pmt::pmt_t KEY_PEAK = pmt::intern("peak");
static const pmt::pmt_t KEY_SNR = pmt::intern("snr_db");
static const pmt::pmt_t KEY_FRAC = pmt::intern("frac");

zc_sync::sptr zc_sync::make(const std::vector<gr_complex>& preamble,
                            int num_chans,
                            float threshold,
                            int period,
                            int track_window,
                            int max_misses,
                            double samp_rate,
                            double time_offset_s,
                            int segments)
{
    return gnuradio::make_block_sptr<zc_sync_impl>(preamble,
                                                   num_chans,
                                                   threshold,
                                                   period,
                                                   track_window,
                                                   max_misses,
                                                   samp_rate,
                                                   time_offset_s,
                                                   segments);
}

static int checked_chans(int n)
{
    if (n < 1)
        throw std::invalid_argument("zc_sync: num_chans must be >= 1");
    return n;
}

zc_sync_impl::zc_sync_impl(const std::vector<gr_complex>& preamble,
                           int num_chans,
                           float threshold,
                           int period,
                           int track_window,
                           int max_misses,
                           double samp_rate,
                           double time_offset_s,
                           int segments)
    : gr::sync_block("zc_sync",
                     gr::io_signature::make(
                         checked_chans(num_chans), num_chans, sizeof(gr_complex)),
                     gr::io_signature::make(num_chans, num_chans, sizeof(gr_complex))),
      d_corr(preamble, segments),
      d_nchan(num_chans),
      d_len(static_cast<int>(preamble.size())),
      d_win(static_cast<int>(preamble.size())),
      d_delay(2 * static_cast<int>(preamble.size()) - 1),
      d_period(period),
      d_track(track_window),
      d_max_misses(max_misses),
      d_rate(samp_rate),
      d_threshold(threshold),
      d_time_offset(time_offset_s),
      d_clock(samp_rate)
{
    if (!(threshold > 0.0f && threshold < 1.0f))
        throw std::invalid_argument("zc_sync: threshold must be in (0, 1)");
    if (period < 0)
        throw std::invalid_argument("zc_sync: period must be >= 0 (0 = learn)");
    if (period > 0 && period <= d_len)
        throw std::invalid_argument("zc_sync: period must be longer than the preamble");
    if (track_window < 1 || 2 * track_window + 1 > d_win)
        throw std::invalid_argument("zc_sync: track_window must be in [1, (L-1)/2]");
    if (max_misses < 0)
        throw std::invalid_argument("zc_sync: max_misses must be >= 0");
    if (!(samp_rate > 0.0))
        throw std::invalid_argument("zc_sync: samp_rate must be > 0");
    // History gives W samples before and W+L-1 after each candidate: enough
    // to decide a local maximum and to correlate the whole preamble.
    set_history(2 * d_win + d_len);
    declare_sample_delay(d_delay);
    set_tag_propagation_policy(TPP_ONE_TO_ONE);
    d_base.resize(d_nchan);
    d_track_metric.resize(2 * d_track + 3);
}

void zc_sync_impl::set_threshold(float threshold)
{
    if (!(threshold > 0.0f && threshold < 1.0f))
        throw std::invalid_argument("zc_sync: threshold must be in (0, 1)");
    std::lock_guard<std::mutex> lock(d_mutex);
    d_threshold = threshold;
}

float zc_sync_impl::threshold() const
{
    std::lock_guard<std::mutex> lock(d_mutex);
    return d_threshold;
}

void zc_sync_impl::set_time_offset(double seconds)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    d_time_offset = seconds;
}

double zc_sync_impl::time_offset() const
{
    std::lock_guard<std::mutex> lock(d_mutex);
    return d_time_offset;
}

void zc_sync_impl::metric_range_abs(uint64_t m, int count, float* out)
{
    // d_base[c] points at candidate m0 - W
    const int rel = static_cast<int>(static_cast<int64_t>(m - d_m0) + d_win);
    d_corr.metric_range(d_base, rel, count, out);
}

void zc_sync_impl::enter_acquire(uint64_t from)
{
    if (d_state == state::track)
        d_reacq++;
    d_state = state::acquire;
    d_acq_from = from;
    d_miss_run = 0;
}

void zc_sync_impl::note_detection_for_period(uint64_t m)
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

void zc_sync_impl::advance_clock(uint64_t m)
{
    // A new rx_time anchor after the first one is a gap in the samples (a
    // USRP overflow): the packet period no longer holds across it.
    if (d_clock.advance(m)) {
        d_have_last = false;
        d_last_spacing = -1;
        enter_acquire(m);
    }
}

void zc_sync_impl::detect(uint64_t m, float peak, float frac)
{
    double offset_s;
    {
        std::lock_guard<std::mutex> lock(d_mutex);
        offset_s = d_time_offset;
    }
    advance_clock(m);
    const split_time t = d_clock.time_of(m, offset_s);

    const double pk = std::min(0.999999, static_cast<double>(peak));
    pmt::pmt_t dict = pmt::make_dict();
    auto put = [&dict](const pmt::pmt_t& k, const pmt::pmt_t& v) {
        dict = pmt::dict_add(dict, k, v);
    };
    put(KEY_SEQ, pmt::from_uint64(d_seq));
    put(KEY_PEAK, pmt::from_double(peak));
    put(KEY_SNR, pmt::from_double(10.0 * std::log10(pk / (1.0 - pk))));
    put(KEY_FRAC, pmt::from_double(frac));
    d_pending.emplace(m + d_delay, std::make_pair(KEY_FRAME, dict));
    d_pending.emplace(m + d_delay, std::make_pair(KEY_GNSS_TIME, t.to_pmt()));
    d_seq++;

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

int zc_sync_impl::work(int noutput_items,
                       gr_vector_const_void_star& input_items,
                       gr_vector_void_star& output_items)
{
    const int n = noutput_items;
    const int W = d_win;
    // in[c][j] holds absolute input sample nitems_read - (history-1) + j.
    // Candidate m for output i is in[c][i + W]: output = input delayed by D.
    const uint64_t nread = nitems_read(0);
    d_m0 = nread - d_delay; // wraps for the first call: only differences are used
    for (int c = 0; c < d_nchan; ++c) {
        const gr_complex* in = static_cast<const gr_complex*>(input_items[c]);
        std::memcpy(output_items[c], in + W, sizeof(gr_complex) * n);
        d_base[c] = in;
    }
    // rx_time anchors of the newest samples [nread, nread+n). With a declared
    // delay GNU Radio reports tag offsets shifted by it (and asking for the
    // range starting at nread+D avoids an underflow in older 3.10 releases);
    // the clock works in input sample indices, so shift back.
    get_tags_in_range(d_rx_tags, 0, nread + d_delay, nread + d_delay + n, KEY_RX_TIME);
    for (auto t : d_rx_tags) {
        t.offset -= d_delay;
        d_clock.push(t);
    }

    float threshold;
    {
        std::lock_guard<std::mutex> lock(d_mutex);
        threshold = d_threshold;
    }

    // History starts as zeros: the first real sample is input 0 = output D.
    int i = nread < static_cast<uint64_t>(d_delay) ? static_cast<int>(d_delay - nread) : 0;
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
                detect(mb, mv[best], frac_offset(mv[best - 1], mv[best], mv[best + 1]));
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
        // acquisition over the rest of this call
        if (!d_block_valid) {
            // candidates m0-W .. m0+n+W-1 need input up to m0+n+W+L-2: the
            // newest sample this call holds
            const int nb = n + 2 * W;
            d_block.resize(nb);
            d_corr.metric_block(d_base, nb, d_block.data());
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
            detect(mm, v, frac_offset(d_block[b - 1], v, d_block[b + 1]));
            ++i;
            found = true;
            break;
        }
        if (!found)
            break;
    }

    // emit the tags whose place this call's output covers
    const uint64_t out_end = nitems_written(0) + n;
    while (!d_pending.empty() && d_pending.begin()->first < out_end) {
        const auto& e = *d_pending.begin();
        for (int c = 0; c < d_nchan; ++c)
            add_item_tag(c, e.first, e.second.first, e.second.second, alias_pmt());
        d_pending.erase(d_pending.begin());
    }
    return n;
}

} // namespace arraycal
} // namespace gr
