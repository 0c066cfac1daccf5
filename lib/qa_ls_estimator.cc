/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// A known channel h (taps at integer delays) applied circularly to a known
// packet x: the LS estimate must be H[k] = sum_n h[n] exp(-j 2 pi k n / K),
// the DFT of h computed here in double precision, for a prime length
// (Bluestein) and the thesis's K = 1278; with an input rotation it must be
// the estimate of the rotated window; noise_gain must be mean(K/|X|^2) of the
// unit-power packet.
#include "qa_common.h"
#include <gnuradio/arraycal/ls_estimator.h>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

using namespace gr::arraycal;
using cd = std::complex<double>;

static std::vector<cd> reference_dft(const std::vector<cd>& x)
{
    const int K = static_cast<int>(x.size());
    std::vector<cd> X(K);
    for (int k = 0; k < K; ++k)
        for (int n = 0; n < K; ++n)
            X[k] += x[n] * std::polar(1.0, -2 * M_PI * static_cast<double>(k) * n / K);
    return X;
}

int main()
{
    std::mt19937 gen(11);
    std::normal_distribution<double> nd;
    for (int K : { 139, 1278, 256 }) {
        std::vector<cd> x(K);
        for (auto& v : x)
            v = cd(nd(gen), nd(gen)) / std::sqrt(2.0);
        std::vector<gr_complex> xf(K);
        for (int n = 0; n < K; ++n)
            xf[n] = gr_complex(static_cast<float>(x[n].real()), static_cast<float>(x[n].imag()));
        // the float packet is the packet: use it for the reference too
        for (int n = 0; n < K; ++n)
            x[n] = cd(xf[n].real(), xf[n].imag());
        ls_estimator ls(xf);
        const std::string tag = "K=" + std::to_string(K);

        // h: three taps; y = x circularly convolved with h
        std::vector<cd> h(K);
        h[0] = std::polar(0.8, 0.3);
        h[3] = cd(0.0, 0.2);
        h[17] = std::polar(0.05, -1.0);
        std::vector<gr_complex> y(K);
        for (int n = 0; n < K; ++n) {
            cd acc;
            for (int m : { 0, 3, 17 })
                acc += h[m] * x[((n - m) % K + K) % K];
            y[n] = gr_complex(static_cast<float>(acc.real()), static_cast<float>(acc.imag()));
        }
        const std::vector<cd> Hw = reference_dft(h);
        std::vector<gr_complex> H(K);
        ls.estimate(y.data(), H.data());
        double worst = 0.0;
        for (int k = 0; k < K; ++k)
            worst = std::max(worst, std::abs(cd(H[k].real(), H[k].imag()) - Hw[k]));
        // float DFT of K samples and a division by X: ~1e-5 relative, worse
        // where |X[k]| is small (a random packet has bins 20 dB down)
        qa::check(worst < 2e-3, tag + " H = DFT(h), worst error " + std::to_string(worst));

        // the spectrum and the noise gain, against the double-precision DFT
        const std::vector<cd> X = reference_dft(x);
        double power = 0.0, sum_inv = 0.0, worst_x = 0.0;
        for (int n = 0; n < K; ++n)
            power += std::norm(x[n]);
        power /= K;
        for (int k = 0; k < K; ++k) {
            sum_inv += 1.0 / std::norm(X[k]);
            const gr_complex s = ls.spectrum()[k];
            worst_x = std::max(worst_x, std::abs(cd(s.real(), s.imag()) - X[k]) / std::abs(X[k]));
        }
        qa::check(worst_x < 1e-4, tag + " spectrum is the packet's DFT");
        const double rho = sum_inv * power; // mean_k(K/|X|^2) over unit power
        qa::check(std::abs(ls.noise_gain() / rho - 1) < 1e-4,
                  tag + " noise_gain " + std::to_string(ls.noise_gain()) + " vs " +
                      std::to_string(rho));

        // input rotation: the estimate of y[n] exp(j (phase + n w))
        const double phase = 0.7, w = -2 * M_PI * 1234.5 / 4e6;
        std::vector<gr_complex> yr(K);
        for (int n = 0; n < K; ++n) {
            const cd v = cd(y[n].real(), y[n].imag()) * std::polar(1.0, phase + n * w);
            yr[n] = gr_complex(static_cast<float>(v.real()), static_cast<float>(v.imag()));
        }
        std::vector<gr_complex> Hr(K), Hrot(K);
        ls.estimate(yr.data(), Hr.data());
        ls.set_input_rotation(phase, w);
        ls.estimate(y.data(), Hrot.data());
        double worst_r = 0.0, scale = 0.0;
        for (int k = 0; k < K; ++k) {
            worst_r = std::max(worst_r, static_cast<double>(std::abs(Hrot[k] - Hr[k])));
            scale = std::max(scale, static_cast<double>(std::abs(Hr[k])));
        }
        qa::check(worst_r < 1e-4 * scale, tag + " input rotation equals rotating the input");
        // and off again
        ls.set_input_weights(nullptr);
        ls.estimate(y.data(), Hr.data());
        double worst_o = 0.0;
        for (int k = 0; k < K; ++k)
            worst_o = std::max(worst_o, static_cast<double>(std::abs(Hr[k] - H[k])));
        qa::check(worst_o < 1e-6, tag + " no weights after set_input_weights(nullptr)");
    }
    return qa::finish("qa_ls_estimator");
}
