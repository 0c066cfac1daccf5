/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LS_CHANEST_IMPL_H
#define INCLUDED_ARRAYCAL_LS_CHANEST_IMPL_H

#include <gnuradio/arraycal/ls_chanest.h>
#include <gnuradio/arraycal/ls_estimator.h>
#include <atomic>

namespace gr {
namespace arraycal {

class ls_chanest_impl : public ls_chanest
{
public:
    ls_chanest_impl(const std::vector<gr_complex>& packet, int num_chans);

    int packet_len() const override { return d_len; }
    uint64_t frames() const override { return d_frames; }
    uint64_t dropped() const override { return d_dropped; }

    void forecast(int noutput_items, gr_vector_int& ninput_items_required) override;
    int general_work(int noutput_items,
                     gr_vector_int& ninput_items,
                     gr_vector_const_void_star& input_items,
                     gr_vector_void_star& output_items) override;

private:
    ls_estimator d_est;
    const int d_len;
    const int d_nchan;
    std::vector<std::vector<gr::tag_t>> d_tags;
    std::atomic<uint64_t> d_frames{ 0 };
    std::atomic<uint64_t> d_dropped{ 0 };
};

} // namespace arraycal
} // namespace gr

#endif
