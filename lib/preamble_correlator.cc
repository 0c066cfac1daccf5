/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
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
                                         int fft_len)
    : d_len(static_cast<int>(preamble.size()))
{
    if (d_len < 2)
        throw std::invalid_argument("preamble_correlator: preamble needs >= 2 samples");
    // Each FFT block yields fft_len-L+1 candidates: 8*L keeps the overhead
    // near 12 % while the FFT stays in cache.
    d_fft_len = fft_len > 0 ? fft_len : fast_fft_size(std::max(1024, 8 * d_len));
    if (d_fft_len < 2 * d_len)
        throw std::invalid_argument("preamble_correlator: fft_len must be >= 2*L");

    gr_complex mean(0, 0);
    for (const auto& p : preamble)
        mean += p;
    mean /= static_cast<float>(d_len);
    d_ref.resize(d_len);
    d_ref_energy = 0.0;
    for (int k = 0; k < d_len; ++k) {
        d_ref[k] = preamble[k] - mean;
        d_ref_energy += std::norm(d_ref[k]);
    }
    if (d_ref_energy <= 0.0)
        throw std::invalid_argument("preamble_correlator: preamble is constant");

    d_fwd = std::make_unique<gr::fft::fft_complex_fwd>(d_fft_len);
    d_rev = std::make_unique<gr::fft::fft_complex_rev>(d_fft_len);
    gr_complex* in = d_fwd->get_inbuf();
    std::fill(in, in + d_fft_len, gr_complex(0, 0));
    std::copy(d_ref.begin(), d_ref.end(), in);
    d_fwd->execute();
    d_ref_fft.resize(d_fft_len);
    const float scale = 1.0f / d_fft_len;
    for (int k = 0; k < d_fft_len; ++k)
        d_ref_fft[k] = std::conj(d_fwd->get_outbuf()[k]) * scale;
}

preamble_correlator::~preamble_correlator() = default;

void preamble_correlator::metric_block(const std::vector<const gr_complex*>& chans,
                                       int n,
                                       float* out)
{
    if (n <= 0)
        return;
    const int L = d_len;
    d_num.assign(n, 0.0);
    d_den.assign(n, 0.0);
    d_cum_pow.resize(n + L);
    d_cum_re.resize(n + L);
    d_cum_im.resize(n + L);
    const int step = d_fft_len - L + 1;

    for (const gr_complex* y : chans) {
        // correlation by overlap-save
        for (int j0 = 0; j0 < n; j0 += step) {
            const int cnt = std::min(step, n - j0);
            const int nin = cnt + L - 1;
            gr_complex* a = d_fwd->get_inbuf();
            std::memcpy(a, y + j0, sizeof(gr_complex) * nin);
            if (nin < d_fft_len)
                std::fill(a + nin, a + nin + (d_fft_len - nin), gr_complex(0, 0));
            d_fwd->execute();
            volk_32fc_x2_multiply_32fc(
                d_rev->get_inbuf(), d_fwd->get_outbuf(), d_ref_fft.data(), d_fft_len);
            d_rev->execute();
            const gr_complex* r = d_rev->get_outbuf();
            for (int j = 0; j < cnt; ++j)
                d_num[j0 + j] += std::norm(r[j]);
        }
        // sliding energy about the window mean, from double prefix sums
        double p = 0.0, re = 0.0, im = 0.0;
        d_cum_pow[0] = d_cum_re[0] = d_cum_im[0] = 0.0;
        for (int k = 0; k < n + L - 1; ++k) {
            p += std::norm(y[k]);
            re += y[k].real();
            im += y[k].imag();
            d_cum_pow[k + 1] = p;
            d_cum_re[k + 1] = re;
            d_cum_im[k + 1] = im;
        }
        for (int j = 0; j < n; ++j) {
            const double sr = d_cum_re[j + L] - d_cum_re[j];
            const double si = d_cum_im[j + L] - d_cum_im[j];
            const double e = (d_cum_pow[j + L] - d_cum_pow[j]) - (sr * sr + si * si) / L;
            d_den[j] += std::max(e, 0.0);
        }
    }
    for (int j = 0; j < n; ++j) {
        const double den = d_den[j] * d_ref_energy;
        // below ~1e-30 the window is digital silence (e.g. GNU Radio's zero history)
        out[j] = den > 1e-30 ? static_cast<float>(std::min(1.0, d_num[j] / den)) : 0.0f;
    }
}

float preamble_correlator::metric_at(const std::vector<const gr_complex*>& chans,
                                     int offset)
{
    const int L = d_len;
    double num = 0.0, den = 0.0;
    for (const gr_complex* c : chans) {
        const gr_complex* y = c + offset;
        gr_complex r, e;
        // VOLK: sum a[i]*conj(b[i])
        volk_32fc_x2_conjugate_dot_prod_32fc(&r, y, d_ref.data(), L);
        volk_32fc_x2_conjugate_dot_prod_32fc(&e, y, y, L);
        double sr = 0.0, si = 0.0;
        for (int k = 0; k < L; ++k) {
            sr += y[k].real();
            si += y[k].imag();
        }
        num += std::norm(r);
        den += std::max(0.0, static_cast<double>(e.real()) - (sr * sr + si * si) / L);
    }
    den *= d_ref_energy;
    return den > 1e-30 ? static_cast<float>(std::min(1.0, num / den)) : 0.0f;
}

} // namespace arraycal
} // namespace gr
