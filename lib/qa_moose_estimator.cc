/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// Two identical halves turned by a known carrier offset f: the second half is
// the first times exp(j 2 pi f P / fs), so the estimate must return f for
// |f| < fs/(2P) and f - fs/P beyond (the ambiguity), on one channel or several
// with different gains and phases.
#include "qa_common.h"
#include <gnuradio/arraycal/moose_estimator.h>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

using namespace gr::arraycal;

// 2P samples: a random half sent twice, gain g, carrier offset f
static std::vector<gr_complex>
two_halves(const std::vector<std::complex<double>>& half, std::complex<double> g, double f,
           double fs)
{
    const int P = static_cast<int>(half.size());
    std::vector<gr_complex> y(2 * P);
    for (int n = 0; n < 2 * P; ++n) {
        const std::complex<double> v = g * half[n % P] * std::polar(1.0, 2 * M_PI * f * n / fs);
        y[n] = gr_complex(static_cast<float>(v.real()), static_cast<float>(v.imag()));
    }
    return y;
}

int main()
{
    std::mt19937 gen(7);
    std::normal_distribution<double> nd;
    const double fs = 4e6;
    for (int P : { 139, 64 }) {
        std::vector<std::complex<double>> half(P);
        for (auto& h : half)
            h = { nd(gen), nd(gen) };
        moose_estimator moose(P, fs);
        const double fmax = fs / (2.0 * P);
        qa::check(std::abs(moose.max_cfo_hz() - fmax) < 1e-9, "max_cfo_hz is fs/(2P)");
        double worst = 0.0;
        for (double frac : { -0.95, -0.5, -0.1, 0.0, 0.03, 0.4, 0.9 }) {
            const double f = frac * fmax;
            // three channels sharing the LO, different gains
            auto a = two_halves(half, std::polar(1.0, 0.3), f, fs);
            auto b = two_halves(half, std::polar(0.2, -2.0), f, fs);
            auto c = two_halves(half, std::polar(3.0, 1.4), f, fs);
            worst = std::max(worst, std::abs(moose.estimate({ a.data(), b.data(), c.data() }) - f));
            worst = std::max(worst, std::abs(moose.estimate({ b.data() }) - f));
        }
        // float samples: the phase of the correlation is good to ~1e-6 rad,
        // i.e. fs/(2 pi P) 1e-6 ~ 5 mHz at P = 139
        qa::check(worst < 0.05, "P=" + std::to_string(P) + " CFO error Hz " + std::to_string(worst));
        // beyond the range the estimate wraps by fs/P
        const double f = 1.2 * fmax;
        auto y = two_halves(half, 1.0, f, fs);
        const double e = moose.estimate({ y.data() });
        qa::check(std::abs(e - (f - 2 * fmax)) < 0.05,
                  "CFO beyond the range wraps to f - fs/P: " + std::to_string(e));
        // the correlation itself: sum conj(y[k]) y[k+P] = |g|^2 E e^{j 2 pi f P/fs}
        double energy = 0.0;
        for (const auto& h : half)
            energy += std::norm(h);
        auto z = two_halves(half, 0.5, 0.25 * fmax, fs);
        const gr_complex r = moose.correlation({ z.data() });
        const std::complex<double> want =
            0.25 * energy * std::polar(1.0, 2 * M_PI * 0.25 * fmax * P / fs);
        qa::check(std::abs(std::complex<double>(r.real(), r.imag()) - want) < 1e-5 * energy,
                  "correlation is |g|^2 E exp(j 2 pi f P / fs)");
    }
    // all-zero input: no offset rather than a NaN
    std::vector<gr_complex> zeros(278);
    qa::check(moose_estimator(139, 4e6).estimate({ zeros.data() }) == 0.0, "zero input gives 0 Hz");
    return qa::finish("qa_moose_estimator");
}
