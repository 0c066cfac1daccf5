/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "simd.h"
#include "phase_rotator.h"
#include <cmath>
#include <complex>

namespace gr {
namespace arraycal {

// out[i] = in[i] exp(j (phase + i w)), n >= 2.
// The phasors of four samples are kept as re = (pr, pr, ...) and
// im = (-pi, pi, ...) over the interleaved lanes, so a product is
// x re + swap(x) im (one shuffle) and the recurrence that turns them needs
// none. Four such vectors (16 samples) turn independently by exp(j 16 w):
// one long multiply-add chain would bound the loop. They restart every 256
// samples from a double-precision phasor.
ARRAYCAL_CLONES
static void rotate_stream(double phase, double w, const gr_complex* in, gr_complex* out, int n)
{
    constexpr int GROUP = 16, BLOCK = 256;
    const std::complex<double> step1 = std::polar(1.0, w);
    const std::complex<double> group_step = std::polar(1.0, w * GROUP);
    const std::complex<double> block_step = std::polar(1.0, w * BLOCK);
    const float sr = static_cast<float>(group_step.real());
    const float si = static_cast<float>(group_step.imag());
    const v8f vsr = v8f{} + sr;
    const v8f si_pm = { si, -si, si, -si, si, -si, si, -si };  // re' = re sr + im si_pm
    const v8f si_mp = { -si, si, -si, si, -si, si, -si, si };  // im' = re si_mp + im sr
    const v8i swap = { 1, 0, 3, 2, 5, 4, 7, 6 };
    std::complex<double> start = std::polar(1.0, phase);
    for (int b0 = 0; b0 < n; b0 += BLOCK, start *= block_step) {
        const int len = n - b0 < BLOCK ? n - b0 : BLOCK;
        v8f re[4], im[4];
        {
            std::complex<double> ph = start;
            for (int q = 0; q < 4; ++q)
                for (int l = 0; l < 4; ++l, ph *= step1) {
                    re[q][2 * l] = re[q][2 * l + 1] = static_cast<float>(ph.real());
                    im[q][2 * l] = static_cast<float>(-ph.imag());
                    im[q][2 * l + 1] = static_cast<float>(ph.imag());
                }
        }
        v8f re0 = re[0], re1 = re[1], re2 = re[2], re3 = re[3];
        v8f im0 = im[0], im1 = im[1], im2 = im[2], im3 = im[3];
        const int full = len / GROUP * GROUP;
        for (int o = 0; o < full; o += GROUP) {
            const float* x = reinterpret_cast<const float*>(in) + 2 * (b0 + o);
            float* y = reinterpret_cast<float*>(out) + 2 * (b0 + o);
            const v8f x0 = V8F_AT(x), x1 = V8F_AT(x + 8), x2 = V8F_AT(x + 16),
                      x3 = V8F_AT(x + 24);
            V8F_REF(y) = x0 * re0 + __builtin_shuffle(x0, swap) * im0;
            V8F_REF(y + 8) = x1 * re1 + __builtin_shuffle(x1, swap) * im1;
            V8F_REF(y + 16) = x2 * re2 + __builtin_shuffle(x2, swap) * im2;
            V8F_REF(y + 24) = x3 * re3 + __builtin_shuffle(x3, swap) * im3;
            v8f t;
            t = re0 * vsr + im0 * si_pm; im0 = re0 * si_mp + im0 * vsr; re0 = t;
            t = re1 * vsr + im1 * si_pm; im1 = re1 * si_mp + im1 * vsr; re1 = t;
            t = re2 * vsr + im2 * si_pm; im2 = re2 * si_mp + im2 * vsr; re2 = t;
            t = re3 * vsr + im3 * si_pm; im3 = re3 * si_mp + im3 * vsr; re3 = t;
        }
        // the last < 16 samples of the stream, from the current phasors
        re[0] = re0; re[1] = re1; re[2] = re2; re[3] = re3;
        im[0] = im0; im[1] = im1; im[2] = im2; im[3] = im3;
        for (int i = full; i < len; ++i) {
            const int q = (i - full) / 4, l = 2 * ((i - full) % 4);
            const float pr = re[q][l], pi = im[q][l + 1];
            const float* x = reinterpret_cast<const float*>(in);
            float* y = reinterpret_cast<float*>(out);
            const float a = x[2 * (b0 + i)], b = x[2 * (b0 + i) + 1];
            y[2 * (b0 + i)] = a * pr - b * pi;
            y[2 * (b0 + i) + 1] = a * pi + b * pr;
        }
    }
}

void phase_rotator::rotate(const gr_complex* in, gr_complex* out, int n) const
{
    if (n == 1) { // a frame start: one sample with the old increment
        const std::complex<double> ph = std::polar(1.0, d_phase);
        out[0] = in[0] * gr_complex(static_cast<float>(ph.real()), static_cast<float>(ph.imag()));
        return;
    }
    rotate_stream(d_phase, d_w, in, out, n);
}

void phase_rotator::advance(int64_t n)
{
    d_phase = std::remainder(d_phase + d_w * static_cast<double>(n), 2.0 * M_PI);
}

} // namespace arraycal
} // namespace gr
