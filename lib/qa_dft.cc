/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// The any-length DFT against the O(N^2) definition in double precision.
#include "qa_common.h"
#include <gnuradio/arraycal/dft.h>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

using namespace gr::arraycal;

int main()
{
    qa::check(largest_prime_factor(1278) == 71, "largest prime factor of 1278 is 71");
    qa::check(fast_fft_size(1278) == 1280, "fast size >= 1278 is 1280");
    qa::check(fast_fft_size(2555) == 2560, "fast size >= 2555 is 2560");

    std::mt19937 rng(7);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (int n : { 17, 64, 139, 1278, 1000 }) {
        for (bool fwd : { true, false }) {
            std::vector<gr_complex> x(n), y(n);
            for (auto& v : x)
                v = gr_complex(g(rng), g(rng));
            dft d(n, fwd);
            d.execute(x.data(), y.data());
            double err = 0.0, ref = 0.0;
            const double sgn = fwd ? -1.0 : 1.0;
            for (int k = 0; k < n; ++k) {
                std::complex<double> s(0, 0);
                for (int m = 0; m < n; ++m)
                    s += std::complex<double>(x[m].real(), x[m].imag()) *
                         std::polar(1.0, sgn * 2.0 * M_PI * ((long)k * m % n) / n);
                err = std::max(err, std::abs(s - std::complex<double>(y[k].real(), y[k].imag())));
                ref = std::max(ref, std::abs(s));
            }
            qa::check(err / ref < 2e-5,
                      "dft n=" + std::to_string(n) + (fwd ? " fwd" : " rev") +
                          " rel err " + std::to_string(err / ref) +
                          (d.uses_bluestein() ? " (bluestein)" : ""));
        }
    }
    // in place
    {
        const int n = 1278;
        std::vector<gr_complex> x(n), y(n);
        for (auto& v : x)
            v = gr_complex(g(rng), g(rng));
        dft d(n, true);
        d.execute(x.data(), y.data());
        d.execute(x.data(), x.data());
        double err = 0;
        for (int k = 0; k < n; ++k)
            err = std::max(err, (double)std::abs(x[k] - y[k]));
        qa::check(err == 0.0, "in-place equals out-of-place");
        qa::check(d.uses_bluestein(), "1278 uses bluestein");
    }
    // input weights: the DFT of x[n] w[n] against the direct sum, for a
    // Bluestein and an FFTW length; cleared again by nullptr
    for (int n : { 1278, 64 }) {
        std::vector<gr_complex> x(n), w(n), y(n), y0(n);
        for (int m = 0; m < n; ++m) {
            x[m] = gr_complex(g(rng), g(rng));
            w[m] = std::polar(1.0f, 0.37f + 0.0021f * m); // a CFO correction's phasors
        }
        dft d(n, true);
        d.execute(x.data(), y0.data());
        d.set_input_weights(w.data());
        d.execute(x.data(), y.data());
        double err = 0.0, ref = 0.0;
        for (int k = 0; k < n; ++k) {
            std::complex<double> s(0, 0);
            for (int m = 0; m < n; ++m)
                s += std::complex<double>(x[m].real(), x[m].imag()) *
                     std::complex<double>(w[m].real(), w[m].imag()) *
                     std::polar(1.0, -2.0 * M_PI * ((long)k * m % n) / n);
            err = std::max(err, std::abs(s - std::complex<double>(y[k].real(), y[k].imag())));
            ref = std::max(ref, std::abs(s));
        }
        qa::check(err / ref < 2e-5,
                  "input weights n=" + std::to_string(n) + " rel err " + std::to_string(err / ref));
        d.set_input_weights(nullptr);
        d.execute(x.data(), y.data());
        double diff = 0;
        for (int k = 0; k < n; ++k)
            diff = std::max(diff, (double)std::abs(y[k] - y0[k]));
        qa::check(diff == 0.0, "input weights cleared n=" + std::to_string(n));
        // the same correction as a rotation (phase 0.37 rad, 0.0021 rad per
        // sample; the phasors restart from double precision every 256
        // samples), against the direct sum with exact phasors
        d.set_input_rotation(0.37, 0.0021);
        d.execute(x.data(), y.data());
        err = ref = 0.0;
        for (int k = 0; k < n; ++k) {
            std::complex<double> s(0, 0);
            for (int m = 0; m < n; ++m)
                s += std::complex<double>(x[m].real(), x[m].imag()) *
                     std::polar(1.0, 0.37 + 0.0021 * m) *
                     std::polar(1.0, -2.0 * M_PI * ((long)k * m % n) / n);
            err = std::max(err, std::abs(s - std::complex<double>(y[k].real(), y[k].imag())));
            ref = std::max(ref, std::abs(s));
        }
        qa::check(err / ref < 2e-5,
                  "input rotation n=" + std::to_string(n) + " rel err " + std::to_string(err / ref));
    }
    return qa::finish("qa_dft");
}
