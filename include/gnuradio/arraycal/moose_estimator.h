/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_MOOSE_ESTIMATOR_H
#define INCLUDED_ARRAYCAL_MOOSE_ESTIMATOR_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/gr_complex.h>
#include <vector>

namespace gr {
namespace arraycal {

/*!
 * \brief Moose carrier-frequency-offset estimate from two identical halves.
 *
 * With the preamble made of two copies of a P-sample sequence, the second
 * copy is the first rotated by 2 pi f P / fs. The estimate is
 *
 *   f = fs / (2 pi P) * arg( sum_c sum_{k<P} conj(y_c[k]) y_c[k+P] ),
 *
 * joint over channels that share one LO (summing the correlations weighs
 * each channel by its power, the ML combination). Unambiguous for
 * |f| < fs/(2P): +-14.4 kHz at 4 MS/s with the default P = 139.
 */
class ARRAYCAL_API moose_estimator
{
public:
    moose_estimator(int half_len, double samp_rate);

    int half_len() const { return d_half; }
    double samp_rate() const { return d_rate; }
    //! Largest offset that can be told apart: fs / (2 P).
    double max_cfo_hz() const { return d_rate / (2.0 * d_half); }

    //! Joint correlation sum; each chans[c] must hold 2P samples.
    gr_complex correlation(const std::vector<const gr_complex*>& chans) const;
    //! CFO in Hz from the two halves starting at each chans[c][0].
    double estimate(const std::vector<const gr_complex*>& chans) const;

private:
    int d_half;
    double d_rate;
};

} // namespace arraycal
} // namespace gr

#endif
