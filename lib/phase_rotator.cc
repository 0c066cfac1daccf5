/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "phase_rotator.h"
#include <cmath>
#include <complex>

namespace gr {
namespace arraycal {

// out_s[i] = in_s[i] exp(j (phase + i w)) for S streams sharing the phasors
template <int S>
static inline void rotate_streams(double phase,
                                  double w,
                                  const gr_complex* const* in,
                                  gr_complex* const* out,
                                  int n)
{
    constexpr int LANES = 8, BLOCK = 256;
    // lane phasors restart every block from a double-precision phasor that
    // turns by exp(j w BLOCK) (a few sines per call, not per block: libm's
    // sine and cosine cost more than the rotation itself)
    const std::complex<double> step1 = std::polar(1.0, w);
    const std::complex<double> lane_step = std::polar(1.0, w * LANES);
    const std::complex<double> block_step = std::polar(1.0, w * BLOCK);
    const float sr = static_cast<float>(lane_step.real());
    const float si = static_cast<float>(lane_step.imag());
    std::complex<double> start = std::polar(1.0, phase);
    for (int b0 = 0; b0 < n; b0 += BLOCK, start *= block_step) {
        const int len = n - b0 < BLOCK ? n - b0 : BLOCK;
        alignas(32) float pr[LANES], pi[LANES];
        std::complex<double> ph = start;
        for (int l = 0; l < LANES; ++l, ph *= step1) {
            pr[l] = static_cast<float>(ph.real());
            pi[l] = static_cast<float>(ph.imag());
        }
        const int full = len / LANES * LANES;
        for (int o = 0; o < full; o += LANES) {
            for (int s = 0; s < S; ++s) {
                const float* xs = reinterpret_cast<const float*>(in[s]) + 2 * (b0 + o);
                float* ys = reinterpret_cast<float*>(out[s]) + 2 * (b0 + o);
#pragma omp simd
                for (int l = 0; l < LANES; ++l) {
                    const float re = xs[2 * l], im = xs[2 * l + 1];
                    ys[2 * l] = re * pr[l] - im * pi[l];
                    ys[2 * l + 1] = re * pi[l] + im * pr[l];
                }
            }
#pragma omp simd
            for (int l = 0; l < LANES; ++l) {
                const float nr = pr[l] * sr - pi[l] * si;
                pi[l] = pr[l] * si + pi[l] * sr;
                pr[l] = nr;
            }
        }
        for (int i = full; i < len; ++i) {
            const int l = i - full;
            for (int s = 0; s < S; ++s) {
                const float* x = reinterpret_cast<const float*>(in[s]);
                float* y = reinterpret_cast<float*>(out[s]);
                const float re = x[2 * (b0 + i)], im = x[2 * (b0 + i) + 1];
                y[2 * (b0 + i)] = re * pr[l] - im * pi[l];
                y[2 * (b0 + i) + 1] = re * pi[l] + im * pr[l];
            }
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void phase_rotator::rotate(const gr_complex* in, gr_complex* out, int n) const
{
    if (n == 1) { // a frame start: one sample with the old increment
        const std::complex<double> ph = std::polar(1.0, d_phase);
        out[0] = in[0] * gr_complex(static_cast<float>(ph.real()), static_cast<float>(ph.imag()));
        return;
    }
    rotate_streams<1>(d_phase, d_w, &in, &out, n);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void phase_rotator::rotate_pair(const gr_complex* a,
                                const gr_complex* b,
                                gr_complex* out_a,
                                gr_complex* out_b,
                                int n) const
{
    const gr_complex* in[2] = { a, b };
    gr_complex* out[2] = { out_a, out_b };
    rotate_streams<2>(d_phase, d_w, in, out, n);
}

void phase_rotator::advance(int64_t n)
{
    d_phase = std::remainder(d_phase + d_w * static_cast<double>(n), 2.0 * M_PI);
}

} // namespace arraycal
} // namespace gr
