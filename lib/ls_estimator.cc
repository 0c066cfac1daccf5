/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gnuradio/arraycal/ls_estimator.h>
#include <volk/volk.h>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace gr {
namespace arraycal {

static int checked_len(const std::vector<gr_complex>& p)
{
    if (p.size() < 2)
        throw std::invalid_argument("ls_estimator: packet needs >= 2 samples");
    return static_cast<int>(p.size());
}

ls_estimator::ls_estimator(const std::vector<gr_complex>& packet)
    : d_len(checked_len(packet)), d_dft(d_len, true), d_x(d_len), d_inv_x(d_len)
{
    d_dft.execute(packet.data(), d_x.data());
    double sum_inv = 0.0;
    double min_p = std::numeric_limits<double>::infinity();
    for (int k = 0; k < d_len; ++k) {
        const double p = std::norm(std::complex<double>(d_x[k].real(), d_x[k].imag()));
        if (!(p > 0.0))
            throw std::invalid_argument(
                "ls_estimator: packet spectrum has an empty bin; H = Y/X is undefined");
        d_inv_x[k] = gr_complex(1.0f, 0.0f) / d_x[k];
        sum_inv += 1.0 / p;
        min_p = std::min(min_p, p);
    }
    double power = 0.0;
    for (const auto& s : packet)
        power += std::norm(s);
    power /= d_len;
    // normalised to unit packet power so that rho is a pure ratio
    d_rho = sum_inv * power;
    // H = Y / X in the same pass as the DFT
    d_dft.set_output_weights(d_inv_x);
    d_floor_db = 10.0 * std::log10(min_p / (d_len * power));
}

void ls_estimator::estimate(const gr_complex* y, gr_complex* H)
{
    d_dft.execute(y, H); // weighted by 1/X
}

} // namespace arraycal
} // namespace gr
