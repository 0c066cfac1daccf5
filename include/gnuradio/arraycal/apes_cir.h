/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_APES_CIR_H
#define INCLUDED_ARRAYCAL_APES_CIR_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/sync_block.h>

namespace gr {
namespace arraycal {

/*!
 * \brief High-resolution CIR by forward-backward APES, per frame.
 * \ingroup arraycal
 *
 * \details
 * Input: one channel's CFR per frame (K bins, FFT order, e.g. from
 * ls_chanest). Output, per input vector:
 *  - output "window": the APES amplitude of a path at delays
 *    -span, -span+step, ..., +span samples from the frame start
 *    (2*round(span/step)+1 complex values; for a path at delay t with gain
 *    a the value at t is a, phase included)
 *  - output "los": one complex value, the LoS gain by CAPES (Capon locates
 *    it, APES measures it), with a "los_delay" tag (samples, double).
 * Frame tags pass through (one vector in, one out).
 */
class ARRAYCAL_API apes_cir : virtual public gr::sync_block
{
public:
    typedef std::shared_ptr<apes_cir> sptr;

    static sptr make(int packet_len,
                     int filter_len = 200,
                     const std::string& output = "window",
                     double span = 8.0,
                     double step = 0.1);

    //! Output vector length.
    virtual int output_len() const = 0;
};

} // namespace arraycal
} // namespace gr

#endif
