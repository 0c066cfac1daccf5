/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// One path at a fractional delay: H[k] = a exp(-j 2 pi f_k t0) on the
// centred grid (Nyquist bin a cos(pi t0)). The LoS must return a and t0.
#include "qa_common.h"
#include <gnuradio/arraycal/cir_los.h>
#include <atomic>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <new>
#include <vector>

using namespace gr::arraycal;

// Every allocation of the process, counted: estimate() must make none once
// the kernel is built (the per-frame path of the receive chain).
static std::atomic<long> g_allocations{ 0 };
void* operator new(std::size_t n)
{
    g_allocations++;
    if (void* p = std::malloc(n ? n : 1))
        return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

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
    // A peak half-way between grid points of one sample reads 4 dB low
    // (sinc^2(1/2)) there: with a weaker path on a grid point, the grid's
    // largest value is on the weaker path. Grid lobes within that margin are
    // refined before they are compared, so every zero padding returns the
    // stronger path, and the same estimate.
    {
        const int K = 1278;
        auto H1 = one_path(K, 1.0, 0.5);
        auto H2 = one_path(K, 0.75, -3.0);
        std::vector<gr_complex> H(K);
        for (int k = 0; k < K; ++k)
            H[k] = H1[k] + H2[k];
        std::vector<gr_complex> grid(cir_los(K, 1).grid_size());
        cir_los coarse(K, 1);
        coarse.cir(H.data(), grid.data());
        size_t top = 0;
        for (size_t m = 1; m < grid.size(); ++m)
            if (std::norm(grid[m]) > std::norm(grid[top]))
                top = m;
        const double top_delay = (static_cast<double>(top) - static_cast<double>(grid.size())) *
                                 coarse.grid_step();
        qa::check(std::abs(top_delay + 3.0) < 0.01,
                  "the one-sample grid peaks on the weaker path: " + std::to_string(top_delay));
        const los_estimate ref = cir_los(K, 10).estimate(H.data());
        for (int zp : { 1, 2, 10 }) {
            const los_estimate e = cir_los(K, zp).estimate(H.data());
            // the weaker path's sidelobe (0.75/(pi 3.5)) bends the peak by
            // a few hundredths of a sample
            qa::check(std::abs(e.delay - 0.5) < 0.05,
                      "zp=" + std::to_string(zp) + " refines the stronger lobe: " +
                          std::to_string(e.delay));
            qa::check(std::abs(e.delay - ref.delay) < 1e-4 && std::abs(e.gain - ref.gain) < 1e-4,
                      "zp=" + std::to_string(zp) + " gives the estimate of zp=10");
        }
    }
    // 'first' with a weaker path 1.5 samples before the strongest: on a grid
    // of one sample it is only a flank of the strong lobe (no local maximum
    // there), so 'first' searches a grid of half a sample whatever zero_pad
    {
        const int K = 1278;
        auto H1 = one_path(K, 1.0, 0.2);
        auto H2 = one_path(K, std::polar(0.5, 1.5), -1.3);
        std::vector<gr_complex> H(K);
        for (int k = 0; k < K; ++k)
            H[k] = H1[k] + H2[k];
        cir_los coarse(K, 1);
        std::vector<gr_complex> grid(coarse.grid_size());
        coarse.cir(H.data(), grid.data());
        const int M = coarse.grid_size();
        auto p = [&](int m) { return std::norm(grid[(m + M) % M]); };
        bool earlier_peak = false;
        for (int m = -3; m <= -1; ++m)
            earlier_peak = earlier_peak || (p(m) >= p(m - 1) && p(m) >= p(m + 1));
        qa::check(!earlier_peak, "no grid peak for the earlier path on a grid of one sample");
        for (int zp : { 1, 2 }) {
            const los_estimate e = cir_los(K, zp, los_pick::first, -12.0, 8.0).estimate(H.data());
            qa::check(std::abs(e.delay + 1.3) < 0.05,
                      "first, zp=" + std::to_string(zp) + ": " + std::to_string(e.delay));
        }
    }
    // no allocation per frame, for every pick rule, FFT and CAPES alike
    {
        const int K = 1278;
        auto H1 = one_path(K, 1.0, 0.3);
        auto H2 = one_path(K, std::polar(0.5, 1.5), -2.2);
        std::vector<gr_complex> H(K);
        for (int k = 0; k < K; ++k)
            H[k] = H1[k] + H2[k];
        // the counter sees the library's allocations (building a kernel makes some)
        const long at_start = g_allocations;
        { cir_los probe(K, 1); }
        qa::check(g_allocations > at_start, "the allocation counter sees the library");
        for (int apes_len : { 0, 200 })
            for (los_pick mode : { los_pick::strongest, los_pick::first, los_pick::predicted }) {
                cir_los los(K, 1, mode, -10.0, 8.0);
                los.set_apes(apes_len);
                los.estimate(H.data(), 0.3);
                const long before = g_allocations;
                double sum = 0.0;
                for (int i = 0; i < 20; ++i)
                    sum += los.estimate(H.data(), 0.3 - 0.01 * i).delay;
                const long made = g_allocations - before;
                qa::check(made == 0 && std::isfinite(sum),
                          "estimate allocates nothing (mode " +
                              std::to_string(static_cast<int>(mode)) + ", apes_len " +
                              std::to_string(apes_len) + "): " + std::to_string(made));
            }
    }
    return qa::finish("qa_cir_los");
}
