/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_MOOSE_CFO_H
#define INCLUDED_ARRAYCAL_MOOSE_CFO_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/sync_block.h>

namespace gr {
namespace arraycal {

/*!
 * \brief Moose CFO estimate per frame, joint over channels; optional correction.
 * \ingroup arraycal
 *
 * \details
 * At every "arraycal_frame" tag (from zc_sync) the offset is estimated from
 * the two preamble halves of all channels together (moose_estimator) and
 * written into the frame tag as "cfo_hz". With correct = true every channel
 * is multiplied by the same exp(-j 2 pi f t): one correction for all
 * channels, so their relative phases are untouched. The phase runs on
 * continuously; the frequency changes at each frame start.
 *
 * Unambiguous range: |f| < samp_rate / (2 half_len), +-14.4 kHz at 4 MS/s
 * for the default 139-sample halves.
 *
 * The output is delayed by delay() = 2*half_len - 1 samples (history gives
 * the look-ahead over the preamble). All tags are forwarded explicitly with
 * that delay; "arraycal_frame" is replaced by its copy with cfo_hz added.
 */
class ARRAYCAL_API moose_cfo : virtual public gr::sync_block
{
public:
    typedef std::shared_ptr<moose_cfo> sptr;

    static sptr make(int half_len = 139,
                     int num_chans = 1,
                     double samp_rate = 1e6,
                     bool correct = true);

    virtual void set_correct(bool correct) = 0;
    virtual bool correct() const = 0;
    //! Most recent estimate in Hz.
    virtual double cfo_hz() const = 0;
    virtual int delay() const = 0;
    virtual double max_cfo_hz() const = 0;
};

} // namespace arraycal
} // namespace gr

#endif
