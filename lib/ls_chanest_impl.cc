/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "ls_chanest_impl.h"
#include <gnuradio/io_signature.h>
#include <algorithm>
#include <stdexcept>

namespace gr {
namespace arraycal {

static const pmt::pmt_t KEY_FRAME = pmt::intern("arraycal_frame");
static const pmt::pmt_t KEY_RX_TIME = pmt::intern("rx_time");

ls_chanest::sptr ls_chanest::make(const std::vector<gr_complex>& packet, int num_chans)
{
    return gnuradio::make_block_sptr<ls_chanest_impl>(packet, num_chans);
}

static int checked(int n)
{
    if (n < 1)
        throw std::invalid_argument("ls_chanest: num_chans must be >= 1");
    return n;
}

ls_chanest_impl::ls_chanest_impl(const std::vector<gr_complex>& packet, int num_chans)
    : gr::block("ls_chanest",
                gr::io_signature::make(checked(num_chans), num_chans, sizeof(gr_complex)),
                gr::io_signature::make(
                    num_chans, num_chans, sizeof(gr_complex) * packet.size())),
      d_est(packet),
      d_len(static_cast<int>(packet.size())),
      d_nchan(num_chans)
{
    set_tag_propagation_policy(TPP_DONT);
    set_relative_rate(1, static_cast<uint64_t>(d_len));
}

void ls_chanest_impl::forecast(int noutput_items, gr_vector_int& ninput_items_required)
{
    // one packet per output vector, frames roughly a packet apart
    for (auto& r : ninput_items_required)
        r = noutput_items * d_len;
}

int ls_chanest_impl::general_work(int noutput_items,
                                  gr_vector_int& ninput_items,
                                  gr_vector_const_void_star& input_items,
                                  gr_vector_void_star& output_items)
{
    int navail = ninput_items[0];
    for (int c = 1; c < d_nchan; ++c)
        navail = std::min(navail, ninput_items[c]);
    const uint64_t nread = nitems_read(0);

    // all tags of the available input, once per call and channel (sorted by offset)
    if (d_tags.size() != static_cast<size_t>(d_nchan))
        d_tags.resize(d_nchan);
    for (int c = 0; c < d_nchan; ++c)
        get_tags_in_range(d_tags[c], c, nread, nread + navail);
    const auto& tags0 = d_tags[0];

    int produced = 0;
    int consume = navail; // nothing pending: every sample is done with
    for (const auto& f : tags0) {
        if (!pmt::eq(f.key, KEY_FRAME))
            continue;
        if (produced >= noutput_items) {
            consume = static_cast<int>(f.offset - nread);
            break;
        }
        const int start = static_cast<int>(f.offset - nread);
        if (start + d_len > navail) {
            consume = start; // wait for the rest of this packet
            break;
        }
        const uint64_t end = f.offset + d_len;
        // a gap inside the packet: not one packet, drop it
        bool gap = false;
        for (const auto& t : tags0)
            if (t.offset > f.offset && t.offset < end && pmt::eq(t.key, KEY_RX_TIME))
                gap = true;
        if (gap) {
            d_dropped++;
            continue;
        }
        for (int c = 0; c < d_nchan; ++c) {
            const gr_complex* in = static_cast<const gr_complex*>(input_items[c]) + start;
            gr_complex* out = static_cast<gr_complex*>(output_items[c]) + produced * d_len;
            d_est.estimate(in, out);
            const uint64_t out_off = nitems_written(c) + produced;
            for (const auto& t : d_tags[c]) {
                if (t.offset < f.offset)
                    continue;
                if (t.offset >= end)
                    break;
                gr::tag_t o = t;
                o.offset = out_off;
                add_item_tag(c, o);
            }
        }
        d_frames++;
        produced++;
    }
    consume_each(consume);
    return produced;
}

} // namespace arraycal
} // namespace gr
