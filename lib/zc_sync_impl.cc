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
                            double gps_minus_rx_time_s,
                            int segments)
{
    return gnuradio::make_block_sptr<zc_sync_impl>(preamble,
                                                   num_chans,
                                                   threshold,
                                                   period,
                                                   track_window,
                                                   max_misses,
                                                   samp_rate,
                                                   gps_minus_rx_time_s,
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
                           double gps_minus_rx_time_s,
                           int segments)
    : gr::sync_block("zc_sync",
                     gr::io_signature::make(
                         checked_chans(num_chans), num_chans, sizeof(gr_complex)),
                     gr::io_signature::make(num_chans, num_chans, sizeof(gr_complex))),
      d_sync(preamble, num_chans, period, track_window, max_misses, samp_rate, segments),
      d_nchan(num_chans),
      d_delay(d_sync.lookahead()),
      d_threshold(threshold),
      d_gps_minus_rx_time_s(gps_minus_rx_time_s)
{
    if (!(threshold > 0.0f && threshold < 1.0f))
        throw std::invalid_argument("zc_sync: threshold must be in (0, 1)");
    // History gives W samples before and W+L-1 after each candidate: enough
    // to decide a local maximum and to correlate the whole preamble.
    set_history(d_sync.lookback() + d_sync.lookahead() + 1);
    declare_sample_delay(d_delay);
    set_tag_propagation_policy(TPP_ONE_TO_ONE);
    d_base.resize(d_nchan);
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

void zc_sync_impl::set_gps_minus_rx_time_s(double seconds)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    d_gps_minus_rx_time_s = seconds;
}

double zc_sync_impl::gps_minus_rx_time_s() const
{
    std::lock_guard<std::mutex> lock(d_mutex);
    return d_gps_minus_rx_time_s;
}

int zc_sync_impl::work(int noutput_items,
                       gr_vector_const_void_star& input_items,
                       gr_vector_void_star& output_items)
{
    const int n = noutput_items;
    const int W = d_sync.lookback();
    // in[c][j] holds absolute input sample nitems_read - (history-1) + j.
    // Candidate m for output i is in[c][i + W]: output = input delayed by D.
    const uint64_t nread = nitems_read(0);
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
        d_sync.push_time(t);
    }

    float threshold;
    double gps_minus_rx_time_s;
    {
        std::lock_guard<std::mutex> lock(d_mutex);
        threshold = d_threshold;
        gps_minus_rx_time_s = d_gps_minus_rx_time_s;
    }
    d_found.clear();
    d_sync.scan(d_base, nread - d_delay, n, threshold, gps_minus_rx_time_s, d_found);
    for (const auto& f : d_found) {
        pmt::pmt_t dict = pmt::make_dict();
        dict = pmt::dict_add(dict, KEY_SEQ, pmt::from_uint64(f.seq));
        dict = pmt::dict_add(dict, KEY_PEAK, pmt::from_double(f.peak));
        dict = pmt::dict_add(dict, KEY_SNR, pmt::from_double(f.snr_db()));
        dict = pmt::dict_add(dict, KEY_FRAC, pmt::from_double(f.frac));
        d_pending.emplace(f.start + d_delay, std::make_pair(KEY_FRAME, dict));
        d_pending.emplace(f.start + d_delay, std::make_pair(KEY_GNSS_TIME, f.time.to_pmt()));
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
