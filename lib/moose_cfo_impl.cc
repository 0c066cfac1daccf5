/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "moose_cfo_impl.h"
#include <gnuradio/io_signature.h>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace gr {
namespace arraycal {

static const pmt::pmt_t KEY_FRAME = pmt::intern("arraycal_frame");
static const pmt::pmt_t KEY_CFO = pmt::intern("cfo_hz");

moose_cfo::sptr moose_cfo::make(int half_len, int num_chans, double samp_rate, bool correct)
{
    return gnuradio::make_block_sptr<moose_cfo_impl>(half_len, num_chans, samp_rate, correct);
}

static int checked(int num_chans)
{
    if (num_chans < 1)
        throw std::invalid_argument("moose_cfo: num_chans must be >= 1");
    return num_chans;
}

moose_cfo_impl::moose_cfo_impl(int half_len, int num_chans, double samp_rate, bool correct)
    : gr::sync_block("moose_cfo",
                     gr::io_signature::make(checked(num_chans), num_chans, sizeof(gr_complex)),
                     gr::io_signature::make(num_chans, num_chans, sizeof(gr_complex))),
      d_est(half_len, samp_rate),
      d_nchan(num_chans),
      d_delay(2 * half_len - 1),
      d_correct(correct),
      d_cfo(0.0),
      d_pending(num_chans),
      d_ptrs(num_chans)
{
    set_history(2 * half_len);
    declare_sample_delay(d_delay);
    set_tag_propagation_policy(TPP_DONT);
}

int moose_cfo_impl::work(int noutput_items,
                         gr_vector_const_void_star& input_items,
                         gr_vector_void_star& output_items)
{
    const int n = noutput_items;
    const uint64_t nread = nitems_read(0);
    const uint64_t nwritten = nitems_written(0);

    // Tags of the newest samples [nread, nread+n) wait until the output
    // reaches them. GNU Radio reports them already shifted by the declared
    // delay, i.e. at their output offsets (asking from nread+D also avoids an
    // underflow in older 3.10 releases).
    for (int c = 0; c < d_nchan; ++c) {
        get_tags_in_range(d_tags, c, nread + d_delay, nread + d_delay + n);
        for (auto& t : d_tags)
            d_pending[c].push_back(t);
    }

    // out[i] = in[i]: input sample (output offset - D). The whole preamble
    // of a frame starting at in[i] is in[i .. i+2P-1], inside the history.
    int i = 0;
    while (i < n) {
        // next frame start among the channels' pending tags
        int next = n;
        for (int c = 0; c < d_nchan; ++c) {
            for (const auto& t : d_pending[c]) {
                const int64_t pos = static_cast<int64_t>(t.offset - nwritten);
                if (pos >= n)
                    break;
                if (pos >= i && pmt::eq(t.key, KEY_FRAME)) {
                    next = std::min<int>(next, static_cast<int>(pos));
                    break;
                }
            }
        }
        if (next > i) {
            for (int c = 0; c < d_nchan; ++c) {
                const gr_complex* in = static_cast<const gr_complex*>(input_items[c]) + i;
                gr_complex* out = static_cast<gr_complex*>(output_items[c]) + i;
                if (d_correct)
                    d_rot.rotate(in, out, next - i);
                else
                    std::memcpy(out, in, sizeof(gr_complex) * (next - i));
            }
            d_rot.advance(next - i);
            i = next;
            if (i >= n)
                break;
        }
        // frame start at output i: estimate from the preamble ahead
        for (int c = 0; c < d_nchan; ++c)
            d_ptrs[c] = static_cast<const gr_complex*>(input_items[c]) + i;
        const double cfo = d_est.estimate(d_ptrs);
        d_cfo = cfo;
        // one phase for every channel: the rotator is shared
        d_rot.set_increment(-2.0 * M_PI * cfo / d_est.samp_rate());
        // rewrite the frame tags at this position with the estimate
        // the frame dict is the same on every channel: extend it once
        const uint64_t out_off = nwritten + i;
        pmt::pmt_t old_dict = pmt::PMT_NIL, new_dict = pmt::PMT_NIL;
        for (int c = 0; c < d_nchan; ++c) {
            for (auto& t : d_pending[c]) {
                if (t.offset > out_off)
                    break;
                if (t.offset != out_off || !pmt::eq(t.key, KEY_FRAME) || !pmt::is_dict(t.value))
                    continue;
                if (!pmt::eq(t.value, old_dict)) {
                    old_dict = t.value;
                    new_dict = pmt::dict_add(t.value, KEY_CFO, pmt::from_double(cfo));
                }
                t.value = new_dict;
            }
        }
        // process this sample with the new rotation
        for (int c = 0; c < d_nchan; ++c) {
            const gr_complex* in = static_cast<const gr_complex*>(input_items[c]) + i;
            gr_complex* out = static_cast<gr_complex*>(output_items[c]) + i;
            if (d_correct)
                d_rot.rotate(in, out, 1);
            else
                *out = *in;
        }
        d_rot.advance(1);
        ++i;
    }

    // forward every tag whose (delayed) place this call's output covers
    const uint64_t out_end = nwritten + n;
    for (int c = 0; c < d_nchan; ++c) {
        auto& q = d_pending[c];
        while (!q.empty() && q.front().offset < out_end) {
            add_item_tag(c, q.front());
            q.pop_front();
        }
    }
    return n;
}

} // namespace arraycal
} // namespace gr
