/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// A known delay: the preamble (two equal halves, as the ZC sent twice) at
// sample d of noisy channels. The metric is checked against its definition
// evaluated here in double precision at every candidate (block, range and
// single evaluations alike), must peak at d, and is exactly 1 there for a
// noise-free channel whatever its gain and DC offset.
#include "qa_common.h"
#include <gnuradio/arraycal/preamble_correlator.h>
#include <algorithm>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

using namespace gr::arraycal;
using cd = std::complex<double>;

// M[j] = 1/S sum_s sum_c |<p~_s, y_c[j + s Ls ..]>|^2 / E(p~_s) / sum_c E_cs[j]
static double metric_definition(const std::vector<gr_complex>& pre,
                                int S,
                                const std::vector<std::vector<gr_complex>>& ch,
                                int j)
{
    const int L = static_cast<int>(pre.size()), Ls = L / S;
    double m = 0.0;
    for (int s = 0; s < S; ++s) {
        cd mean_p;
        for (int i = 0; i < Ls; ++i)
            mean_p += cd(pre[s * Ls + i].real(), pre[s * Ls + i].imag());
        mean_p /= Ls;
        double ep = 0.0;
        for (int i = 0; i < Ls; ++i)
            ep += std::norm(cd(pre[s * Ls + i].real(), pre[s * Ls + i].imag()) - mean_p);
        double num = 0.0, den = 0.0;
        for (const auto& y : ch) {
            cd mean_y, corr;
            for (int i = 0; i < Ls; ++i)
                mean_y += cd(y[j + s * Ls + i].real(), y[j + s * Ls + i].imag());
            mean_y /= Ls;
            for (int i = 0; i < Ls; ++i) {
                const cd yi(y[j + s * Ls + i].real(), y[j + s * Ls + i].imag());
                const cd pi = cd(pre[s * Ls + i].real(), pre[s * Ls + i].imag()) - mean_p;
                corr += std::conj(pi) * yi;
                den += std::norm(yi - mean_y);
            }
            num += std::norm(corr) / ep;
        }
        m += den > 0 ? num / den : 0.0;
    }
    return m / S;
}

int main()
{
    const int P = 139, L = 2 * P, S = 2;
    // Zadoff-Chu root 25 of length 139, twice (the thesis preamble's form)
    std::vector<gr_complex> pre(L);
    for (int n = 0; n < L; ++n) {
        const int k = n % P;
        const double ph = -M_PI * 25.0 * k * (k + 1) / P;
        pre[n] = gr_complex(static_cast<float>(std::cos(ph)), static_cast<float>(std::sin(ph)));
    }
    std::mt19937 gen(5);
    std::normal_distribution<double> nd;
    const int d = 300, n = 1200;
    const double fs = 4e6;
    // two channels: different gains, a DC offset, a common CFO, noise at
    // 10 dB SNR on one and noise-free on the other
    auto channel = [&](cd g, cd dc, double cfo, double noise) {
        std::vector<gr_complex> y(n + L - 1);
        for (int i = 0; i < static_cast<int>(y.size()); ++i) {
            cd v = dc + noise * cd(nd(gen), nd(gen)) / std::sqrt(2.0);
            if (i >= d && i < d + L)
                v += g * cd(pre[i - d].real(), pre[i - d].imag()) *
                     std::polar(1.0, 2 * M_PI * cfo * i / fs);
            y[i] = gr_complex(static_cast<float>(v.real()), static_cast<float>(v.imag()));
        }
        return y;
    };
    std::vector<std::vector<gr_complex>> ch = { channel(std::polar(1.0, 0.4), 0.0, 3000.0,
                                                        std::sqrt(0.1)),
                                                channel(std::polar(0.3, -1.0), cd(0.2, -0.1),
                                                        3000.0, std::sqrt(0.1)) };
    std::vector<const gr_complex*> ptr = { ch[0].data(), ch[1].data() };
    preamble_correlator pc(pre, S);
    std::vector<float> block(n), range(n);
    pc.metric_block(ptr, n, block.data());
    pc.metric_range(ptr, 0, n, range.data());
    double worst_b = 0.0, worst_r = 0.0, worst_a = 0.0;
    for (int j = 0; j < n; ++j) {
        const double m = metric_definition(pre, S, ch, j);
        worst_b = std::max(worst_b, std::abs(block[j] - m));
        worst_r = std::max(worst_r, std::abs(range[j] - m));
        if (j % 37 == 0 || std::abs(j - d) < 3)
            worst_a = std::max(worst_a, std::abs(pc.metric_at(ptr, j) - m));
    }
    qa::check(worst_b < 1e-4, "metric_block vs definition " + std::to_string(worst_b));
    qa::check(worst_r < 1e-4, "metric_range vs definition " + std::to_string(worst_r));
    qa::check(worst_a < 1e-4, "metric_at vs definition " + std::to_string(worst_a));
    const int peak = static_cast<int>(std::max_element(block.begin(), block.end()) - block.begin());
    qa::check(peak == d, "peak at the known delay: " + std::to_string(peak));
    // the explained fraction: sum |g|^2 over sum (|g|^2 + noise), times the
    // loss of the CFO's phase ramp within a segment |mean exp(j theta_i)|^2
    // (+- the noise's own correlation with the preamble, ~1/sqrt(P) of it)
    cd ramp;
    for (int i = 0; i < P; ++i)
        ramp += std::polar(1.0, 2 * M_PI * 3000.0 * i / fs);
    const double rho = std::norm(ramp / static_cast<double>(P));
    const double want = rho * (1.0 + 0.09) / (1.0 + 0.09 + 2 * 0.1);
    qa::check(std::abs(block[d] - want) < 0.03, "peak metric " + std::to_string(block[d]) +
                                                    " ~ explained fraction " + std::to_string(want));
    // one copy over noise scores at most about 1/2 (the side peaks)
    qa::check(block[d + P] < 0.6 && block[d - P] < 0.6, "side peaks at +-P below 0.6");

    // noise-free, any gain and DC offset: exactly 1 at d
    std::vector<std::vector<gr_complex>> clean = { channel(std::polar(2.5, 2.0), cd(1.0, 1.0),
                                                           0.0, 0.0) };
    std::vector<const gr_complex*> cp = { clean[0].data() };
    qa::check(std::abs(pc.metric_at(cp, d) - 1.0) < 1e-4,
              "noise-free metric at the delay is 1: " + std::to_string(pc.metric_at(cp, d)));
    return qa::finish("qa_preamble_correlator");
}
