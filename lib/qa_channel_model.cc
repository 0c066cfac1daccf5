/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// QA of the emulator's channel: delays against the direct DFT sum, the LO's
// carrier offset against its closed form, the AWGN's and the phase noise's
// statistics, and draws that do not depend on how the samples are split.
#include "qa_common.h"
#include <gnuradio/arraycal/channel_model.h>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

using gr::arraycal::channel_model;
using cd = std::complex<double>;
static const double PI = 3.14159265358979323846;

// y[n] = (1/K) sum_m X[m] g exp(-j 2 pi f_m tau) exp(j 2 pi m n / K), f_m centred
static std::vector<cd> delayed(const std::vector<gr_complex>& x, cd g, double tau)
{
    const int K = static_cast<int>(x.size());
    std::vector<cd> X(K), y(K);
    for (int m = 0; m < K; ++m)
        for (int n = 0; n < K; ++n)
            X[m] += cd(x[n]) * std::polar(1.0, -2 * PI * m * n / K);
    for (int m = 0; m < K; ++m) {
        const int f = (2 * m < K) ? m : m - K; // centred grid
        cd h = g * std::polar(1.0, -2 * PI * f * tau / K);
        if (2 * m == K)
            h = g * std::cos(PI * tau); // the Nyquist bin stays real
        X[m] *= h;
    }
    for (int n = 0; n < K; ++n) {
        for (int m = 0; m < K; ++m)
            y[n] += X[m] * std::polar(1.0, 2 * PI * m * n / K);
        y[n] /= K;
    }
    return y;
}

static std::vector<gr_complex> random_packet(int K, unsigned seed)
{
    std::mt19937 gen(seed);
    std::normal_distribution<float> nd;
    std::vector<gr_complex> x(K);
    for (auto& v : x)
        v = gr_complex(nd(gen), nd(gen));
    return x;
}

static void test_delays()
{
    for (int K : { 1278, 101 }) {
        auto x = random_packet(K, 3);
        const cd g1(0.5, 0.2), g2(-0.1, 0.05);
        const double t1 = 3.37, t2 = 7.9;
        channel_model ch(K, { 0, 0 }, 1, 2, 0.0, 0.0, 0.0f, 1);
        // element 0: two paths; element 1 (same channel): one path, the second gain 0
        std::vector<gr_complex> gains = { gr_complex(g1), gr_complex(g2), gr_complex(g2),
                                          gr_complex(0) };
        std::vector<double> delays = { t1, t2, t1, 0.0 };
        std::vector<gr_complex> out(K);
        ch.process(x.data(), 1, gains.data(), delays.data(), 0, { out.data() });
        auto a = delayed(x, g1, t1), b = delayed(x, g2, t2), c = delayed(x, g2, t1);
        double err = 0, ref = 0;
        for (int n = 0; n < K; ++n) {
            err = std::max(err, std::abs(cd(out[n]) - (a[n] + b[n] + c[n])));
            ref = std::max(ref, std::abs(a[n]));
        }
        qa::check(err < 2e-5 * ref,
                  "delays on the centred grid, K=" + std::to_string(K) +
                      ": max error " + std::to_string(err / ref));
    }
}

static void test_carrier_offset()
{
    const int K = 64;
    std::vector<gr_complex> x(K, gr_complex(1.0f, 0.0f)); // DC: the delay is a no-op
    const double w0 = 0.0123;
    const uint64_t start = 12345ull * K * 1000;
    channel_model ch(K, { 0 }, 1, 1, w0, 0.0, 0.0f, 1);
    gr_complex g(0.8f, -0.6f);
    double tau = 0.0;
    std::vector<gr_complex> out(3 * K);
    std::vector<gr_complex> xs(3 * K, gr_complex(1.0f, 0.0f));
    std::vector<gr_complex> gains(3, g);
    std::vector<double> delays(3, tau);
    ch.process(xs.data(), 3, gains.data(), delays.data(), start, { out.data() });
    double err = 0;
    for (int n = 0; n < 3 * K; ++n) {
        const cd want = cd(g) * std::polar(1.0, std::fmod(w0 * double(start + n), 2 * PI));
        err = std::max(err, std::abs(cd(out[n]) - want));
    }
    qa::check(err < 1e-5, "carrier offset at a large sample index: " + std::to_string(err));
}

static void test_noise_statistics()
{
    const int K = 1000, B = 200;
    const float sigma = 0.5f;
    channel_model ch(K, { 0, 1 }, 2, 1, 0.0, 0.0, sigma, 7);
    std::vector<gr_complex> x(static_cast<size_t>(B) * K, gr_complex(0, 0));
    std::vector<gr_complex> gains(2 * B, gr_complex(0, 0));
    std::vector<double> delays(2 * B, 0.0);
    std::vector<gr_complex> o0(x.size()), o1(x.size());
    ch.process(x.data(), B, gains.data(), delays.data(), 0, { o0.data(), o1.data() });
    double p0 = 0, p1 = 0, m0 = 0, ri = 0, kurt = 0, beyond3 = 0, beyond_strip = 0;
    cd c01 = 0;
    const double n = double(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        p0 += std::norm(o0[i]);
        p1 += std::norm(o1[i]);
        m0 += o0[i].real();
        ri += double(o0[i].real()) * o0[i].imag();
        kurt += std::pow(double(o0[i].real()), 4);
        for (float v : { o0[i].real(), o0[i].imag() }) {
            beyond3 += std::abs(v) > 3 * sigma;
            beyond_strip += std::abs(v) > 3.442619855899 * sigma; // the ziggurat's tail
        }
        c01 += cd(o0[i]) * std::conj(cd(o1[i]));
    }
    const double want = 2.0 * sigma * sigma;
    // n = 2e5 complex samples: the power's relative std is 1/sqrt(n) = 0.22 %
    qa::check(std::abs(p0 / n / want - 1) < 0.01, "AWGN power of channel 0");
    qa::check(std::abs(p1 / n / want - 1) < 0.01, "AWGN power of channel 1");
    qa::check(std::abs(m0 / n) < 5 * sigma / std::sqrt(n), "AWGN mean");
    qa::check(std::abs(ri / n) < 5 * sigma * sigma / std::sqrt(n), "I and Q uncorrelated");
    qa::check(std::abs(c01) / n < 5 * want / std::sqrt(n), "channels independent");
    // Gaussian: E[x^4] = 3 sigma^4 (kurtosis' std about sqrt(96/n) relative)
    qa::check(std::abs(kurt / n / (3 * std::pow(sigma, 4)) - 1) < 0.03, "Gaussian kurtosis");
    // the tails: P(|x| > 3) = 0.0026998, P(|x| > 3.4426) = 0.000576 over 2n reals
    // (expected 1080 and 230 counts: within 4 Poisson sigma)
    qa::check(std::abs(beyond3 - 0.0026998 * 2 * n) < 4 * std::sqrt(0.0026998 * 2 * n),
              "Gaussian tail beyond 3 sigma: " + std::to_string(beyond3));
    qa::check(std::abs(beyond_strip - 0.000576 * 2 * n) < 4 * std::sqrt(0.000576 * 2 * n),
              "Gaussian tail beyond the base strip: " + std::to_string(beyond_strip));
}

static void test_phase_noise()
{
    const int K = 1000, B = 400;
    const double pn = 1e-3;
    channel_model ch(K, { 0 }, 1, 1, 0.0, pn, 0.0f, 11);
    std::vector<gr_complex> x(static_cast<size_t>(B) * K, gr_complex(1, 0));
    std::vector<gr_complex> gains(B, gr_complex(1, 0));
    std::vector<double> delays(B, 0.0);
    std::vector<gr_complex> out(x.size());
    ch.process(x.data(), B, gains.data(), delays.data(), 0, { out.data() });
    // increments of the walk over L samples: N(0, pn^2 L), independent for disjoint lags
    const int L = 3200;
    double s2 = 0;
    int m = 0;
    for (size_t i = L; i < out.size(); i += L, ++m) {
        const double d = std::arg(cd(out[i]) * std::conj(cd(out[i - L])));
        s2 += d * d;
    }
    const double ratio = std::sqrt(s2 / m) / (pn * std::sqrt(double(L)));
    // m = 124 increments: the std's relative std is 1/sqrt(2m) = 6 %
    qa::check(std::abs(ratio - 1) < 0.2, "phase-noise walk std ratio " + std::to_string(ratio));
    // continuous: no step between neighbouring samples beyond a few sigma
    double big = 0;
    for (size_t i = 1; i < out.size(); ++i)
        big = std::max(big, std::abs(std::arg(cd(out[i]) * std::conj(cd(out[i - 1])))));
    qa::check(big < 8 * pn * std::sqrt(32.0) / 32 + 1e-6, "phase noise continuous");
}

static void test_split_independent()
{
    const int K = 1278, B = 5;
    auto pkt = random_packet(K, 5);
    std::vector<gr_complex> x;
    for (int b = 0; b < B; ++b)
        x.insert(x.end(), pkt.begin(), pkt.end());
    std::vector<gr_complex> gains(B * 2 * 1);
    std::vector<double> delays(B * 2);
    for (int i = 0; i < B * 2; ++i) {
        gains[i] = gr_complex(1.0f - 0.1f * i, 0.05f * i);
        delays[i] = 0.3 * i;
    }
    channel_model a(K, { 0, 1 }, 2, 1, 0.002, 1e-4, 0.1f, 9);
    channel_model b(K, { 0, 1 }, 2, 1, 0.002, 1e-4, 0.1f, 9);
    std::vector<gr_complex> a0(B * K), a1(B * K), b0(B * K), b1(B * K);
    a.process(x.data(), B, gains.data(), delays.data(), 0, { a0.data(), a1.data() });
    b.process(x.data(), 2, gains.data(), delays.data(), 0, { b0.data(), b1.data() });
    b.process(x.data() + 2 * K, 3, gains.data() + 4, delays.data() + 4, 2 * K,
              { b0.data() + 2 * K, b1.data() + 2 * K });
    bool same = true;
    for (int i = 0; i < B * K; ++i)
        same = same && a0[i] == b0[i] && a1[i] == b1[i];
    qa::check(same, "the same samples whatever the split into calls");
}

int main()
{
    test_delays();
    test_carrier_offset();
    test_noise_statistics();
    test_phase_noise();
    test_split_independent();
    return qa::finish("qa_channel_model");
}
