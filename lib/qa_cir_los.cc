/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// One path at a fractional delay: H[k] = a exp(-j 2 pi f_k t0) on the
// centred grid (Nyquist bin a cos(pi t0)). The LoS must return a and t0.
#include "qa_common.h"
#include <gnuradio/arraycal/cir_los.h>
#include <cmath>
#include <complex>
#include <vector>

using namespace gr::arraycal;

static std::vector<gr_complex> one_path(int K, std::complex<double> a, double t0)
{
    std::vector<gr_complex> H(K);
    for (int k = 0; k < K; ++k) {
        int kc = k <= K / 2 ? k : k - K;
        std::complex<double> v;
        if (K % 2 == 0 && k == K / 2)
            v = a * std::cos(M_PI * t0);
        else
            v = a * std::polar(1.0, -2.0 * M_PI * kc * t0 / K);
        H[k] = gr_complex(v.real(), v.imag());
    }
    return H;
}

int main()
{
    for (int K : { 1278, 139 }) {
        for (int zp : { 1, 10 }) {
            cir_los los(K, zp);
            double worst_ph = 0, worst_amp = 0, worst_t = 0;
            for (double t0 = -3.0; t0 < 3.0; t0 += 0.137) {
                const std::complex<double> a = std::polar(0.8, 1.1);
                auto H = one_path(K, a, t0);
                const los_estimate e = los.estimate(H.data());
                const std::complex<double> g(e.gain.real(), e.gain.imag());
                worst_ph = std::max(worst_ph, std::abs(std::arg(g / a)));
                worst_amp = std::max(worst_amp, std::abs(std::abs(g) / std::abs(a) - 1));
                worst_t = std::max(worst_t, std::abs(e.delay - t0));
            }
            const std::string tag = "K=" + std::to_string(K) + " zp=" + std::to_string(zp);
            qa::check(worst_ph < 1e-4, tag + " phase err rad " + std::to_string(worst_ph));
            qa::check(worst_amp < 1e-4, tag + " amp err " + std::to_string(worst_amp));
            qa::check(worst_t < 1e-4, tag + " delay err " + std::to_string(worst_t));
        }
    }
    // Picking with two paths 3 samples apart. The other path's sidelobe
    // slope (~ its amplitude relative to this one / (pi * separation)) biases
    // the single-path ML delay: 0.05 samples for the stronger path, 0.1 for
    // the weaker one (twice weaker), 0.05 rad in phase. The picking is what
    // is tested here.
    {
        const int K = 1278;
        auto H1 = one_path(K, std::polar(0.5, 0.3), -2.0);
        auto H2 = one_path(K, std::polar(1.0, -1.0), 1.0);
        std::vector<gr_complex> H(K);
        for (int k = 0; k < K; ++k)
            H[k] = H1[k] + H2[k];
        cir_los strongest(K, 4);
        cir_los first(K, 4, los_pick::first, -10.0, 8.0);
        const auto es = strongest.estimate(H.data());
        qa::check(std::abs(es.delay - 1.0) < 0.05,
                  "strongest picks the stronger path: " + std::to_string(es.delay));
        const auto e = first.estimate(H.data());
        qa::check(std::abs(e.delay + 2.0) < 0.1,
                  "first picks the earlier path: " + std::to_string(e.delay));
        qa::check(std::abs(std::arg(std::complex<double>(e.gain.real(), e.gain.imag())) - 0.3) <
                      0.05,
                  "first path phase");
        cir_los first_strict(K, 4, los_pick::first, -3.0, 8.0);
        qa::check(std::abs(first_strict.estimate(H.data()).delay - 1.0) < 0.05,
                  "a first path below the threshold is not taken");
        cir_los pred(K, 4, los_pick::predicted, -10.0, 1.5);
        qa::check(std::abs(pred.estimate(H.data(), -1.8).delay + 2.0) < 0.1,
                  "predicted picks the path near the prediction");
    }
    return qa::finish("qa_cir_los");
}
