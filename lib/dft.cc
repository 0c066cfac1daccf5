/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "simd.h"
#include "phase_rotator.h"
#include <gnuradio/arraycal/dft.h>
#include <gnuradio/fft/fft.h>
#include <volk/volk.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace gr {
namespace arraycal {

int largest_prime_factor(int n)
{
    if (n < 1)
        throw std::invalid_argument("largest_prime_factor: n must be >= 1");
    int largest = 1;
    for (int p = 2; static_cast<long>(p) * p <= n; ++p) {
        while (n % p == 0) {
            largest = p;
            n /= p;
        }
    }
    return n > 1 ? n : largest;
}

int fast_fft_size(int n)
{
    if (n < 1)
        return 1;
    for (int m = n;; ++m) {
        int r = m;
        for (int p : { 2, 3, 5 })
            while (r % p == 0)
                r /= p;
        if (r == 1)
            return m;
    }
}

dft::dft(int length, bool forward)
    : d_n(length), d_forward(forward), d_bluestein(false), d_m(length)
{
    if (length < 1)
        throw std::invalid_argument("dft: length must be >= 1");
    d_bluestein = largest_prime_factor(length) > 13;
    if (!d_bluestein) {
        if (forward)
            d_fwd = std::make_unique<gr::fft::fft_complex_fwd>(length);
        else
            d_rev = std::make_unique<gr::fft::fft_complex_rev>(length);
        return;
    }
    // Bluestein: nk = (n^2 + k^2 - (k-n)^2)/2 turns the DFT into a circular
    // convolution with the chirp exp(+-j pi m^2/N) on M = 2 M1 >= 2N-1 points.
    // The input fills at most half of it and only the first N outputs are
    // needed, so each length-M FFT splits into two of M1 (even and odd bins;
    // FFTW's 1280 takes a third of its 2560 here, the data stay in L1).
    d_m1 = fast_fft_size(length);
    d_m = 2 * d_m1;
    d_fwd = std::make_unique<gr::fft::fft_complex_fwd>(d_m1);
    d_rev = std::make_unique<gr::fft::fft_complex_rev>(d_m1);
    d_fwd_odd = std::make_unique<gr::fft::fft_complex_fwd>(d_m1);
    d_rev_odd = std::make_unique<gr::fft::fft_complex_rev>(d_m1);
    for (auto* f : { d_fwd.get(), d_fwd_odd.get() })
        std::fill(f->get_inbuf(), f->get_inbuf() + d_m1, gr_complex(0, 0));
    const double sign = forward ? -1.0 : 1.0;
    d_chirp.resize(length);
    d_tw.resize(length);
    d_out_odd.resize(length);
    for (int n = 0; n < length; ++n) {
        // n^2 mod 2N keeps the argument small and exact for long lengths
        const long long q = (static_cast<long long>(n) * n) % (2LL * length);
        const double ph = sign * M_PI * static_cast<double>(q) / length;
        d_chirp[n] = gr_complex(std::cos(ph), std::sin(ph));
        // odd bins of the length-M FFT: input times exp(-j 2 pi n / M) ...
        const double tw = -2.0 * M_PI * n / d_m;
        d_tw[n] = gr_complex(std::cos(tw), std::sin(tw));
        // ... and their inverse times exp(+j 2 pi n / M)
        d_out_odd[n] = gr_complex(std::cos(ph - tw), std::sin(ph - tw));
    }
    // FFT of the conjugate chirp filter on M points (once, here), scaled by
    // 1/M and split into even and odd bins
    gr::fft::fft_complex_fwd full(d_m);
    gr_complex* b = full.get_inbuf();
    std::fill(b, b + d_m, gr_complex(0, 0));
    b[0] = std::conj(d_chirp[0]);
    for (int n = 1; n < length; ++n) {
        b[n] = std::conj(d_chirp[n]);
        b[d_m - n] = std::conj(d_chirp[n]);
    }
    full.execute();
    d_kernel_even.resize(d_m1);
    d_kernel_odd.resize(d_m1);
    const float scale = 1.0f / d_m;
    for (int k = 0; k < d_m1; ++k) {
        d_kernel_even[k] = full.get_outbuf()[2 * k] * scale;
        d_kernel_odd[k] = full.get_outbuf()[2 * k + 1] * scale;
    }
}

dft::~dft() = default;

void dft::set_output_weights(const std::vector<gr_complex>& w)
{
    if (static_cast<int>(w.size()) != d_n)
        throw std::invalid_argument("dft: need one output weight per bin");
    d_weights = w;
    if (d_bluestein) {
        d_out_chirp.resize(d_n);
        for (int k = 0; k < d_n; ++k) {
            d_out_chirp[k] = d_chirp[k] * w[k];
            d_out_odd[k] *= w[k];
        }
    }
}

void dft::set_input_weights(const gr_complex* w)
{
    d_weighted_in = w != nullptr;
    if (!w)
        return;
    if (!d_bluestein) {
        d_in_weights.assign(w, w + d_n);
        return;
    }
    d_in_chirp.resize(d_n);
    volk_32fc_x2_multiply_32fc(d_in_chirp.data(), d_chirp.data(), w, d_n);
}

void dft::set_input_rotation(double phase, double increment)
{
    phase_rotator rot;
    rot.set_phase(phase);
    rot.set_increment(increment);
    d_weighted_in = true;
    if (!d_bluestein) {
        d_in_weights.assign(d_n, gr_complex(1.0f, 0.0f));
        rot.rotate(d_in_weights.data(), d_in_weights.data(), d_n);
        return;
    }
    d_in_chirp.resize(d_n);
    rot.rotate(d_chirp.data(), d_in_chirp.data(), d_n);
}

// Four complex products over interleaved lanes (re, im, re, im ...); out
// by reference: a returned 32-byte vector changes the baseline clone's ABI.
__attribute__((always_inline)) static inline void cmul4(v8f& out, const v8f& x, const v8f& a)
{
    const v8i dup_re = { 0, 0, 2, 2, 4, 4, 6, 6 }, dup_im = { 1, 1, 3, 3, 5, 5, 7, 7 };
    const v8i swap = { 1, 0, 3, 2, 5, 4, 7, 6 };
    const v8i alternate = { 0, 9, 2, 11, 4, 13, 6, 15 }; // even lanes of the first
    const v8f p = x * __builtin_shuffle(a, dup_re);
    const v8f q = __builtin_shuffle(x, swap) * __builtin_shuffle(a, dup_im);
    // re = xr ar - xi ai in the even lanes, im = xi ar + xr ai in the odd
    out = __builtin_shuffle(p - q, p + q, alternate);
}

// oa = x a and ob = x a b in one pass (n complex): the odd bins' input is
// the even bins' times a fixed twiddle b, so a per-frame weighting (the CFO
// correction) is folded into one chirp, not two. Written in vectors: GCC
// does not vectorise the chained complex product by itself.
ARRAYCAL_CLONES
static void multiply_chained(const gr_complex* __restrict x,
                             const gr_complex* __restrict a,
                             const gr_complex* __restrict b,
                             gr_complex* __restrict oa,
                             gr_complex* __restrict ob,
                             int n)
{
    const float* xf = reinterpret_cast<const float*>(x);
    const float* af = reinterpret_cast<const float*>(a);
    const float* bf = reinterpret_cast<const float*>(b);
    float* oaf = reinterpret_cast<float*>(oa);
    float* obf = reinterpret_cast<float*>(ob);
    const int full = n / 4 * 4;
    for (int i = 0; i < 2 * full; i += 8) {
        v8f xa, xab;
        cmul4(xa, V8F_AT(xf + i), V8F_AT(af + i));
        cmul4(xab, xa, V8F_AT(bf + i));
        V8F_REF(oaf + i) = xa;
        V8F_REF(obf + i) = xab;
    }
    for (int i = full; i < n; ++i) {
        oa[i] = x[i] * a[i];
        ob[i] = oa[i] * b[i];
    }
}

// out = x a + y b (n complex), out may alias nothing else
ARRAYCAL_CLONES
static void multiply_add(const gr_complex* __restrict x,
                         const gr_complex* __restrict a,
                         const gr_complex* __restrict y,
                         const gr_complex* __restrict b,
                         gr_complex* __restrict out,
                         int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = x[i] * a[i] + y[i] * b[i];
}

void dft::execute(const gr_complex* in, gr_complex* out)
{
    if (!d_bluestein) {
        gr_complex* buf = d_forward ? d_fwd->get_inbuf() : d_rev->get_inbuf();
        if (d_weighted_in)
            volk_32fc_x2_multiply_32fc(buf, in, d_in_weights.data(), d_n);
        else
            std::memcpy(buf, in, sizeof(gr_complex) * d_n);
        if (d_forward) {
            d_fwd->execute();
            std::memcpy(out, d_fwd->get_outbuf(), sizeof(gr_complex) * d_n);
        } else {
            d_rev->execute();
            std::memcpy(out, d_rev->get_outbuf(), sizeof(gr_complex) * d_n);
        }
        if (!d_weights.empty())
            volk_32fc_x2_multiply_32fc(out, out, d_weights.data(), d_n);
        return;
    }
    // even and odd bins of the length-M convolution, each with its own FFT
    // pair, so that no intermediate is copied; the zero tails of the inputs
    // were set once and are never written
    multiply_chained(in,
                     d_weighted_in ? d_in_chirp.data() : d_chirp.data(),
                     d_tw.data(),
                     d_fwd->get_inbuf(),
                     d_fwd_odd->get_inbuf(),
                     d_n);
    d_fwd->execute();
    d_fwd_odd->execute();
    volk_32fc_x2_multiply_32fc(
        d_rev->get_inbuf(), d_fwd->get_outbuf(), d_kernel_even.data(), d_m1);
    volk_32fc_x2_multiply_32fc(
        d_rev_odd->get_inbuf(), d_fwd_odd->get_outbuf(), d_kernel_odd.data(), d_m1);
    d_rev->execute();
    d_rev_odd->execute();
    // `out` may alias `in`: every read of `in` is done
    multiply_add(d_rev->get_outbuf(),
                 d_out_chirp.empty() ? d_chirp.data() : d_out_chirp.data(),
                 d_rev_odd->get_outbuf(),
                 d_out_odd.data(),
                 out,
                 d_n);
}

} // namespace arraycal
} // namespace gr
