/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_MOOSE_CFO_IMPL_H
#define INCLUDED_ARRAYCAL_MOOSE_CFO_IMPL_H

#include <gnuradio/arraycal/moose_cfo.h>
#include <gnuradio/arraycal/moose_estimator.h>
#include "phase_rotator.h"
#include <atomic>
#include <deque>

namespace gr {
namespace arraycal {

class moose_cfo_impl : public moose_cfo
{
public:
    moose_cfo_impl(int half_len, int num_chans, double samp_rate, bool correct);

    void set_correct(bool correct) override { d_correct = correct; }
    bool correct() const override { return d_correct; }
    double cfo_hz() const override { return d_cfo; }
    int delay() const override { return d_delay; }
    double max_cfo_hz() const override { return d_est.max_cfo_hz(); }

    int work(int noutput_items,
             gr_vector_const_void_star& input_items,
             gr_vector_void_star& output_items) override;

private:
    moose_estimator d_est;
    const int d_nchan;
    const int d_delay;
    std::atomic<bool> d_correct;
    std::atomic<double> d_cfo;
    phase_rotator d_rot; // one phase for all channels
    std::vector<std::deque<gr::tag_t>> d_pending; // per input, in offset order
    std::vector<gr::tag_t> d_tags;                // one call's tags (kept: no allocation per call)
    std::vector<const gr_complex*> d_ptrs;
};

} // namespace arraycal
} // namespace gr

#endif
