/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gnuradio/arraycal/moose_estimator.h>
#include <volk/volk.h>
#include <cmath>
#include <stdexcept>

namespace gr {
namespace arraycal {

moose_estimator::moose_estimator(int half_len, double samp_rate)
    : d_half(half_len), d_rate(samp_rate)
{
    if (half_len < 1)
        throw std::invalid_argument("moose_estimator: half_len must be >= 1");
    if (!(samp_rate > 0.0))
        throw std::invalid_argument("moose_estimator: samp_rate must be > 0");
}

gr_complex moose_estimator::correlation(const std::vector<const gr_complex*>& chans) const
{
    std::complex<double> acc(0.0, 0.0);
    for (const gr_complex* y : chans) {
        gr_complex r;
        // sum y[k+P] * conj(y[k])
        volk_32fc_x2_conjugate_dot_prod_32fc(&r, y + d_half, y, d_half);
        acc += std::complex<double>(r.real(), r.imag());
    }
    return gr_complex(static_cast<float>(acc.real()), static_cast<float>(acc.imag()));
}

double moose_estimator::estimate(const std::vector<const gr_complex*>& chans) const
{
    const gr_complex r = correlation(chans);
    if (r == gr_complex(0, 0))
        return 0.0;
    return std::arg(std::complex<double>(r.real(), r.imag())) * d_rate /
           (2.0 * M_PI * d_half);
}

} // namespace arraycal
} // namespace gr
