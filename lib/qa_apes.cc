/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// Fast FB-APES against the per-frequency textbook formula with an explicit
// matrix inverse (Gauss-Jordan), and its defined behaviour on bad input.
#include "qa_common.h"
#include <gnuradio/arraycal/apes.h>
#include <cmath>
#include <complex>
#include <random>
#include <stdexcept>
#include <vector>

using cd = std::complex<double>;
using namespace gr::arraycal;

static std::vector<cd> inverse(std::vector<cd> a, int n)
{
    std::vector<cd> inv(n * n, 0.0);
    for (int i = 0; i < n; ++i)
        inv[i * n + i] = 1.0;
    for (int c = 0; c < n; ++c) {
        int p = c;
        for (int r = c + 1; r < n; ++r)
            if (std::abs(a[r * n + c]) > std::abs(a[p * n + c]))
                p = r;
        for (int k = 0; k < n; ++k) {
            std::swap(a[c * n + k], a[p * n + k]);
            std::swap(inv[c * n + k], inv[p * n + k]);
        }
        const cd d = a[c * n + c];
        for (int k = 0; k < n; ++k) {
            a[c * n + k] /= d;
            inv[c * n + k] /= d;
        }
        for (int r = 0; r < n; ++r) {
            if (r == c)
                continue;
            const cd f = a[r * n + c];
            for (int k = 0; k < n; ++k) {
                a[r * n + k] -= f * a[c * n + k];
                inv[r * n + k] -= f * inv[c * n + k];
            }
        }
    }
    return inv;
}

static cd textbook(const std::vector<cd>& x, int L, double w)
{
    const int N = x.size(), S = N - L + 1;
    std::vector<cd> R(L * L, 0.0), gf(L, 0.0), gb(L, 0.0);
    for (int l = 0; l < S; ++l) {
        for (int i = 0; i < L; ++i) {
            const cd yf = x[l + i];
            const cd yb = std::conj(x[S - 1 - l + L - 1 - i]); // J conj(y_{S-1-l})
            gf[i] += yf * std::polar(1.0, -w * l) / (double)S;
            gb[i] += yb * std::polar(1.0, -w * l) / (double)S;
            for (int j = 0; j < L; ++j) {
                const cd zf = x[l + j];
                const cd zb = std::conj(x[S - 1 - l + L - 1 - j]);
                R[i * L + j] += 0.5 * (yf * std::conj(zf) + yb * std::conj(zb)) / (double)S;
            }
        }
    }
    std::vector<cd> Q = R;
    for (int i = 0; i < L; ++i)
        for (int j = 0; j < L; ++j)
            Q[i * L + j] -= 0.5 * (gf[i] * std::conj(gf[j]) + gb[i] * std::conj(gb[j]));
    const auto Qi = inverse(Q, L);
    cd num = 0, den = 0;
    for (int i = 0; i < L; ++i)
        for (int j = 0; j < L; ++j) {
            const cd ai = std::polar(1.0, w * i), aj = std::polar(1.0, w * j);
            num += std::conj(ai) * Qi[i * L + j] * gf[j];
            den += std::conj(ai) * Qi[i * L + j] * aj;
        }
    return num / den;
}

int main()
{
    std::mt19937 rng(11);
    std::normal_distribution<double> g(0.0, 1.0);
    for (auto nl : { std::pair<int, int>{ 32, 8 }, { 33, 9 }, { 40, 13 }, { 64, 16 } }) {
        const int N = nl.first, L = nl.second;
        std::vector<cd> x(N);
        for (int n = 0; n < N; ++n)
            x[n] = 2.0 * std::polar(1.0, 0.7 * n + 0.3) + cd(g(rng), g(rng)) * 0.5;
        apes a(N, L);
        a.fit(x.data());
        double worst = 0;
        for (double w : { 0.0, 0.7, 1.9, -2.5, 3.1 }) {
            const cd ref = textbook(x, L, w);
            const cd got = a.amplitude(w);
            worst = std::max(worst, std::abs(got - ref) / std::abs(ref));
        }
        qa::check(worst < 1e-8, "fast == textbook N=" + std::to_string(N) + " L=" +
                                    std::to_string(L) + " rel " + std::to_string(worst));
        // the batched evaluation gives the same numbers
        std::vector<double> ws;
        for (int k = 0; k < 70; ++k)
            ws.push_back(-3.0 + 0.09 * k);
        std::vector<cd> batch(ws.size());
        a.amplitudes(ws.data(), ws.size(), batch.data());
        double bworst = 0;
        for (size_t k = 0; k < ws.size(); ++k)
            bworst = std::max(bworst, std::abs(batch[k] - a.amplitude(ws[k])) / std::abs(batch[k]));
        qa::check(bworst < 1e-10, "batched == single, rel " + std::to_string(bworst));
        qa::check(!a.regularised(), "noisy data need no regularisation");
    }
    // noise-free single tone: exact amplitude, regularisation reported
    {
        const int N = 100, L = 30;
        std::vector<cd> x(N);
        const cd alpha = std::polar(1.5, -0.4);
        const double w0 = 2 * M_PI * 7 / 64.0;
        for (int n = 0; n < N; ++n)
            x[n] = alpha * std::polar(1.0, w0 * n);
        apes a(N, L);
        a.fit(x.data());
        const cd got = a.amplitude(w0);
        qa::check(std::abs(got - alpha) < 1e-6, "one tone, no noise: amplitude exact");
        qa::check(a.regularised(), "one tone, no noise: regularisation reported");
    }
    // zeros: defined result
    {
        std::vector<cd> x(50, 0.0);
        apes a(50, 10);
        a.fit(x.data());
        qa::check(a.zero_data() && a.amplitude(1.0) == cd(0, 0), "zeros give 0");
    }
    // L >= N: clear error
    {
        bool threw = false;
        try {
            apes a(10, 10);
        } catch (const std::invalid_argument&) {
            threw = true;
        }
        qa::check(threw, "L >= N is rejected");
    }
    return qa::finish("qa_apes");
}
