/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "simd.h"
#include <gnuradio/arraycal/dft.h>
#include <gnuradio/arraycal/preamble_correlator.h>
#include <gnuradio/fft/fft.h>
#include <volk/volk.h>
#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace gr {
namespace arraycal {

preamble_correlator::preamble_correlator(const std::vector<gr_complex>& preamble,
                                         int segments,
                                         int fft_len)
    : d_len(static_cast<int>(preamble.size())), d_nseg(segments)
{
    if (segments < 1 || d_len % segments != 0 || d_len / segments < 2)
        throw std::invalid_argument(
            "preamble_correlator: the preamble length must split into segments of >= 2");
    d_seglen = d_len / segments;
    // each FFT block yields fft_len - Ls + 1 candidates
    d_fft_len = fft_len > 0 ? fft_len : fast_fft_size(std::max(1024, 8 * d_seglen));
    if (d_fft_len < 2 * d_seglen)
        throw std::invalid_argument("preamble_correlator: fft_len must be >= 2 L/S");
    d_fwd = std::make_unique<gr::fft::fft_complex_fwd>(d_fft_len);
    d_rev = std::make_unique<gr::fft::fft_complex_rev>(d_fft_len);

    d_identical = true;
    for (int s = 1; s < segments && d_identical; ++s)
        d_identical = std::equal(preamble.begin(), preamble.begin() + d_seglen,
                                 preamble.begin() + s * d_seglen);
    for (int s = 0; s < segments; ++s) {
        gr_complex mean(0, 0);
        for (int k = 0; k < d_seglen; ++k)
            mean += preamble[s * d_seglen + k];
        mean /= static_cast<float>(d_seglen);
        std::vector<gr_complex> ref(d_seglen);
        double e = 0.0;
        for (int k = 0; k < d_seglen; ++k) {
            ref[k] = preamble[s * d_seglen + k] - mean;
            e += std::norm(ref[k]);
        }
        if (!(e > 0.0))
            throw std::invalid_argument("preamble_correlator: a preamble segment is constant");
        gr_complex* in = d_fwd->get_inbuf();
        std::fill(in, in + d_fft_len, gr_complex(0, 0));
        std::copy(ref.begin(), ref.end(), in);
        d_fwd->execute();
        std::vector<gr_complex> rf(d_fft_len);
        const float scale = 1.0f / d_fft_len;
        for (int k = 0; k < d_fft_len; ++k)
            rf[k] = std::conj(d_fwd->get_outbuf()[k]) * scale;
        std::vector<float> rf_il(2 * d_seglen), rf_sw(2 * d_seglen);
        for (int k = 0; k < d_seglen; ++k) {
            rf_il[2 * k] = ref[k].real();
            rf_il[2 * k + 1] = ref[k].imag();
            rf_sw[2 * k] = ref[k].imag();
            rf_sw[2 * k + 1] = ref[k].real();
        }
        d_ref_f.push_back(std::move(rf_il));
        d_ref_sw.push_back(std::move(rf_sw));
        d_ref.push_back(std::move(ref));
        d_ref_fft.push_back(std::move(rf));
        d_ref_energy.push_back(e);
    }
}

preamble_correlator::~preamble_correlator() = default;

// acc[j] += |<ref_seg, y[j ..]>|^2 / E_seg for j < n (y holds n + Ls - 1 samples)
void preamble_correlator::correlate(int seg, const gr_complex* y, int n, double* acc)
{
    const int Ls = d_seglen;
    const int step = d_fft_len - Ls + 1;
    const double inv_e = 1.0 / d_ref_energy[seg];
    for (int j0 = 0; j0 < n; j0 += step) {
        const int cnt = std::min(step, n - j0);
        const int nin = cnt + Ls - 1;
        gr_complex* a = d_fwd->get_inbuf();
        std::copy(y + j0, y + j0 + nin, a);
        if (nin < d_fft_len)
            std::fill(a + nin, a + d_fft_len, gr_complex(0, 0));
        d_fwd->execute();
        volk_32fc_x2_multiply_32fc(
            d_rev->get_inbuf(), d_fwd->get_outbuf(), d_ref_fft[seg].data(), d_fft_len);
        d_rev->execute();
        const gr_complex* r = d_rev->get_outbuf();
        for (int j = 0; j < cnt; ++j)
            acc[j0 + j] += std::norm(r[j]) * inv_e;
    }
}

// per-segment metric num/den, 0 for digital silence (e.g. GNU Radio's zero history)
static inline double seg_metric(double num, double den)
{
    return den > 1e-30 ? std::min(1.0, num / den) : 0.0;
}

void preamble_correlator::metric_block(const std::vector<const gr_complex*>& chans,
                                       int n,
                                       float* out)
{
    if (n <= 0)
        return;
    const int Ls = d_seglen, S = d_nseg;
    const int span = n + (S - 1) * Ls; // candidate starts of any segment
    // num/den per segment: segment s of candidate j at [s*n + j]
    d_num.assign(static_cast<size_t>(S) * n, 0.0);
    d_den.assign(static_cast<size_t>(S) * n, 0.0);
    d_cum_pow.resize(span + Ls);
    d_cum_re.resize(span + Ls);
    d_cum_im.resize(span + Ls);

    for (const gr_complex* y : chans) {
        if (d_identical) {
            // one correlation over all segment starts, then shifted
            d_tmp.assign(span, 0.0);
            correlate(0, y, span, d_tmp.data());
            for (int s = 0; s < S; ++s)
                for (int j = 0; j < n; ++j)
                    d_num[static_cast<size_t>(s) * n + j] += d_tmp[j + s * Ls];
        } else {
            for (int s = 0; s < S; ++s)
                correlate(s, y + s * Ls, n, d_num.data() + static_cast<size_t>(s) * n);
        }
        // sliding segment energy about its mean, from double prefix sums
        double p = 0.0, re = 0.0, im = 0.0;
        d_cum_pow[0] = d_cum_re[0] = d_cum_im[0] = 0.0;
        for (int k = 0; k < span + Ls - 1; ++k) {
            p += std::norm(y[k]);
            re += y[k].real();
            im += y[k].imag();
            d_cum_pow[k + 1] = p;
            d_cum_re[k + 1] = re;
            d_cum_im[k + 1] = im;
        }
        for (int s = 0; s < S; ++s) {
            double* den = d_den.data() + static_cast<size_t>(s) * n;
            for (int j = 0; j < n; ++j) {
                const int a = j + s * Ls, b = a + Ls;
                const double sr = d_cum_re[b] - d_cum_re[a];
                const double si = d_cum_im[b] - d_cum_im[a];
                den[j] +=
                    std::max(0.0, (d_cum_pow[b] - d_cum_pow[a]) - (sr * sr + si * si) / Ls);
            }
        }
    }
    // the mean of the per-segment metrics: every segment has to match
    const double inv_s = 1.0 / S;
    for (int j = 0; j < n; ++j) {
        double m = 0.0;
        for (int s = 0; s < S; ++s)
            m += seg_metric(d_num[static_cast<size_t>(s) * n + j],
                            d_den[static_cast<size_t>(s) * n + j]);
        out[j] = static_cast<float>(m * inv_s);
    }
}

float preamble_correlator::metric_at(const std::vector<const gr_complex*>& chans,
                                     int offset)
{
    const int Ls = d_seglen;
    double m = 0.0;
    for (int s = 0; s < d_nseg; ++s) {
        double num = 0.0, den = 0.0;
        for (const gr_complex* c : chans) {
            const gr_complex* y = c + offset + s * Ls;
            gr_complex r, e;
            // VOLK: sum a[i]*conj(b[i])
            volk_32fc_x2_conjugate_dot_prod_32fc(&r, y, d_ref[s].data(), Ls);
            volk_32fc_x2_conjugate_dot_prod_32fc(&e, y, y, Ls);
            double sr = 0.0, si = 0.0;
            for (int k = 0; k < Ls; ++k) {
                sr += y[k].real();
                si += y[k].imag();
            }
            num += std::norm(r) / d_ref_energy[s];
            den += std::max(0.0, static_cast<double>(e.real()) - (sr * sr + si * si) / Ls);
        }
        m += seg_metric(num, den);
    }
    return static_cast<float>(m / d_nseg);
}

// Re and Im of sum_k y[k] conj(p[k]) from the lane sums of y * p and y * swap(p)
static inline gr_complex lane_result(const v8f& a, const v8f& b)
{
    float re = 0.0f, im = 0.0f;
    for (int e = 0; e < 8; e += 2) {
        re += a[e] + a[e + 1];
        im += b[e + 1] - b[e];
    }
    return gr_complex(re, im);
}

// r[j] = sum_k y[j + k] conj(p[k]), k < len, for j < count. Four lags share
// every load of the reference; interleaved re/im lanes need no shuffles:
// y * p sums to the real part, y * swap(p) gives the imaginary part as odd
// lanes minus even lanes. Named accumulators, not arrays: arrays of vectors
// are kept on the stack. (28 VOLK calls of 139 samples per tracked frame
// cost twice as much.)
ARRAYCAL_CLONES
static void correlate_lags(const gr_complex* y,
                           const float* ref,    // p interleaved, len complex
                           const float* ref_sw, // p with re/im swapped
                           int len,
                           int count,
                           gr_complex* r)
{
    const float* yf = reinterpret_cast<const float*>(y);
    const int full = len / 4 * 4; // complex samples in whole 8-lane blocks
    for (int j0 = 0; j0 < count; j0 += 4) {
        // the last group overlaps the one before instead of running a
        // latency-bound single lag (count >= 4 in tracking)
        const int j = count >= 4 ? std::min(j0, count - 4) : j0;
        const int nl = std::min(4, count - j);
        v8f a0{}, a1{}, a2{}, a3{}, b0{}, b1{}, b2{}, b3{};
        const float* yj = yf + 2 * j;
        if (nl == 4) {
            for (int k = 0; k < full; k += 4) {
                const v8f p = V8F_AT(ref + 2 * k), q = V8F_AT(ref_sw + 2 * k);
                const v8f v0 = V8F_AT(yj + 2 * k), v1 = V8F_AT(yj + 2 * k + 2),
                          v2 = V8F_AT(yj + 2 * k + 4), v3 = V8F_AT(yj + 2 * k + 6);
                a0 += v0 * p;
                b0 += v0 * q;
                a1 += v1 * p;
                b1 += v1 * q;
                a2 += v2 * p;
                b2 += v2 * q;
                a3 += v3 * p;
                b3 += v3 * q;
            }
            r[j] = lane_result(a0, b0);
            r[j + 1] = lane_result(a1, b1);
            r[j + 2] = lane_result(a2, b2);
            r[j + 3] = lane_result(a3, b3);
        } else {
            for (int l = 0; l < nl; ++l) {
                a0 = b0 = v8f{};
                for (int k = 0; k < full; k += 4) {
                    const v8f v = V8F_AT(yj + 2 * (k + l));
                    a0 += v * V8F_AT(ref + 2 * k);
                    b0 += v * V8F_AT(ref_sw + 2 * k);
                }
                r[j + l] = lane_result(a0, b0);
            }
        }
    }
    // the last len - full samples of every lag
    for (int j = 0; j < count; ++j) {
        float re = 0.0f, im = 0.0f;
        for (int k = full; k < len; ++k) {
            const float yr = yf[2 * (j + k)], yi = yf[2 * (j + k) + 1];
            re += yr * ref[2 * k] + yi * ref[2 * k + 1];
            im += yi * ref[2 * k] - yr * ref[2 * k + 1];
        }
        r[j] += gr_complex(re, im);
    }
}

// energy and sum of y[0 .. len)
ARRAYCAL_CLONES
static void window_sums(const gr_complex* y, int len, double& energy, double& sr, double& si)
{
    const float* yf = reinterpret_cast<const float*>(y);
    const int full = len / 4 * 4;
    v8f e{}, s{};
    for (int k = 0; k < full; k += 4) {
        const v8f v = V8F_AT(yf + 2 * k);
        e += v * v;
        s += v;
    }
    energy = sr = si = 0.0;
    for (int l = 0; l < 8; l += 2) {
        energy += static_cast<double>(e[l]) + e[l + 1];
        sr += s[l];
        si += s[l + 1];
    }
    for (int k = full; k < len; ++k) {
        energy += std::norm(y[k]);
        sr += y[k].real();
        si += y[k].imag();
    }
}

void preamble_correlator::metric_range(const std::vector<const gr_complex*>& chans,
                                       int offset,
                                       int count,
                                       float* out)
{
    const int Ls = d_seglen, S = d_nseg;
    d_num.assign(static_cast<size_t>(S) * count, 0.0);
    d_den.assign(static_cast<size_t>(S) * count, 0.0);
    d_lags.resize(count);
    for (const gr_complex* c : chans) {
        for (int s = 0; s < S; ++s) {
            const gr_complex* y = c + offset + s * Ls;
            correlate_lags(y, d_ref_f[s].data(), d_ref_sw[s].data(), Ls, count, d_lags.data());
            // window energy about its mean, sliding one sample per candidate
            double e, sr, si;
            window_sums(y, Ls, e, sr, si);
            double* num = d_num.data() + static_cast<size_t>(s) * count;
            double* den = d_den.data() + static_cast<size_t>(s) * count;
            const double inv_e = 1.0 / d_ref_energy[s];
            for (int j = 0; j < count; ++j) {
                if (j > 0) {
                    const gr_complex in = y[j + Ls - 1], gone = y[j - 1];
                    e += static_cast<double>(std::norm(in)) - std::norm(gone);
                    sr += static_cast<double>(in.real()) - gone.real();
                    si += static_cast<double>(in.imag()) - gone.imag();
                }
                num[j] += std::norm(d_lags[j]) * inv_e;
                den[j] += std::max(0.0, e - (sr * sr + si * si) / Ls);
            }
        }
    }
    for (int j = 0; j < count; ++j) {
        double m = 0.0;
        for (int s = 0; s < S; ++s)
            m += seg_metric(d_num[static_cast<size_t>(s) * count + j],
                            d_den[static_cast<size_t>(s) * count + j]);
        out[j] = static_cast<float>(m / S);
    }
}

} // namespace arraycal
} // namespace gr
