/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gnuradio/arraycal/apes.h>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace gr {
namespace arraycal {

using cd = std::complex<double>;
static const double INV_SQRT2 = 0.70710678118654752440;

apes::apes(int n, int filter_len) : d_n(n), d_l(filter_len)
{
    if (filter_len < 1)
        throw std::invalid_argument("apes: filter length L must be >= 1");
    if (filter_len >= n)
        throw std::invalid_argument("apes: filter length L=" + std::to_string(filter_len) +
                                    " must be smaller than the data length N=" +
                                    std::to_string(n));
    d_s = n - filter_len + 1;
    d_h = filter_len / 2;
    d_x.resize(n);
    d_r.resize(static_cast<size_t>(d_l) * d_l);
    d_t.resize(static_cast<size_t>(d_l) * d_l);
    d_tmp_re.resize(d_l);
    d_tmp_im.resize(d_l);
    d_ra.resize(d_l);
    d_wa.resize(d_l);
    d_g.resize(d_l);
    d_ug.resize(d_l);
    d_wg.resize(d_l);
}

void apes::fit(const gr_complex* x)
{
    for (int i = 0; i < d_n; ++i)
        d_x[i] = cd(x[i].real(), x[i].imag());
    build_covariance();
}

void apes::fit(const std::complex<double>* x)
{
    std::copy(x, x + d_n, d_x.begin());
    build_covariance();
}

void apes::build_covariance()
{
    const int L = d_l, S = d_s;
    const double inv_s = 1.0 / S;
    auto R = [&](int i, int j) -> cd& { return d_r[static_cast<size_t>(i) * L + j]; };

    // forward covariance of the Hankel snapshots: first row, then the
    // diagonal recursion for the upper triangle
    double energy = 0.0;
    for (int i = 0; i < d_n; ++i)
        energy += std::norm(d_x[i]);
    d_zero = !(energy > 0.0);
    d_fitted = true;
    if (d_zero)
        return;
    for (int j = 0; j < L; ++j) {
        double re = 0.0, im = 0.0;
        const cd* a = d_x.data();
        const cd* b = d_x.data() + j;
#pragma omp simd reduction(+ : re, im)
        for (int l = 0; l < S; ++l) {
            // a * conj(b)
            re += a[l].real() * b[l].real() + a[l].imag() * b[l].imag();
            im += a[l].imag() * b[l].real() - a[l].real() * b[l].imag();
        }
        R(0, j) = cd(re, im) * inv_s;
    }
    for (int i = 0; i + 1 < L; ++i)
        for (int j = i; j + 1 < L; ++j)
            R(i + 1, j + 1) = R(i, j) + (d_x[S + i] * std::conj(d_x[S + j]) -
                                         d_x[i] * std::conj(d_x[j])) *
                                            inv_s;
    for (int i = 0; i < L; ++i)
        for (int j = 0; j < i; ++j)
            R(i, j) = std::conj(R(j, i));
    // forward-backward average R = (R_f + J conj(R_f) J) / 2, in place over
    // the pairs (i,j) and (L-1-i, L-1-j)
    for (int i = 0; i < L; ++i)
        for (int j = 0; j < L; ++j) {
            const int ii = L - 1 - i, jj = L - 1 - j;
            const size_t a = static_cast<size_t>(i) * L + j;
            const size_t b = static_cast<size_t>(ii) * L + jj;
            if (a > b)
                continue;
            const cd v = 0.5 * (d_r[a] + std::conj(d_r[b]));
            d_r[a] = v;
            d_r[b] = std::conj(v);
        }

    // T = U^H R U is real for a centro-Hermitian R. B = U^H R by columns, then
    // T = B U by rows, both O(L^2) because U has two entries per row/column.
    const int h = d_h, lo = L - h; // bottom block starts at lo
    std::vector<cd> B(static_cast<size_t>(L) * L);
    for (int j = 0; j < L; ++j) {
        for (int p = 0; p < h; ++p) {
            const cd a = R(p, j), b = R(L - 1 - p, j);
            B[static_cast<size_t>(p) * L + j] = (a + b) * INV_SQRT2;
            B[static_cast<size_t>(lo + p) * L + j] = cd(0, 1) * (b - a) * INV_SQRT2;
        }
        if (L % 2)
            B[static_cast<size_t>(h) * L + j] = R(h, j);
    }
    double trace = 0.0;
    for (int i = 0; i < L; ++i) {
        const cd* b = &B[static_cast<size_t>(i) * L];
        double* t = &d_t[static_cast<size_t>(i) * L];
        for (int p = 0; p < h; ++p) {
            t[p] = ((b[p] + b[L - 1 - p]) * INV_SQRT2).real();
            t[lo + p] = (cd(0, 1) * (b[p] - b[L - 1 - p]) * INV_SQRT2).real();
        }
        if (L % 2)
            t[h] = b[h].real();
        trace += t[i];
    }
    // keep T (lower triangle is read by the Cholesky) and factor with loading
    const std::vector<double> T = d_t;
    const double base = 1e-10;
    d_regularised = false;
    for (double load = base;; load *= 100.0) {
        d_t = T;
        if (cholesky(load * trace / L)) {
            d_loading = load;
            d_regularised = d_regularised || load > base;
            return;
        }
        if (load > 1e-2)
            throw std::runtime_error("apes: covariance could not be factored");
    }
}

bool apes::cholesky(double load)
{
    const int L = d_l;
    double* T = d_t.data();
    double min_pivot = INFINITY;
    for (int j = 0; j < L; ++j) {
        double* rj = T + static_cast<size_t>(j) * L;
        double s = rj[j] + load;
#pragma omp simd reduction(- : s)
        for (int k = 0; k < j; ++k)
            s -= rj[k] * rj[k];
        if (!(s > 0.0))
            return false;
        const double piv = std::sqrt(s);
        rj[j] = piv;
        min_pivot = std::min(min_pivot, s);
        const double inv = 1.0 / piv;
        for (int i = j + 1; i < L; ++i) {
            double* ri = T + static_cast<size_t>(i) * L;
            double v = ri[j];
#pragma omp simd reduction(- : v)
            for (int k = 0; k < j; ++k)
                v -= ri[k] * rj[k];
            ri[j] = v * inv;
        }
    }
    // the load dominating a direction means the data were (nearly) rank deficient
    if (min_pivot < 100.0 * load)
        d_regularised = true;
    return true;
}

void apes::whiten_real(const double* v, double* out)
{
    const int L = d_l;
    for (int i = 0; i < L; ++i) {
        const double* ri = &d_t[static_cast<size_t>(i) * L];
        double s = v[i];
#pragma omp simd reduction(- : s)
        for (int k = 0; k < i; ++k)
            s -= ri[k] * out[k];
        out[i] = s / ri[i];
    }
}

void apes::whiten_complex(const cd* v, cd* out)
{
    const int L = d_l;
    double* re = d_tmp_re.data();
    double* im = d_tmp_im.data();
    for (int i = 0; i < L; ++i) {
        const double* ri = &d_t[static_cast<size_t>(i) * L];
        double sr = v[i].real(), si = v[i].imag();
#pragma omp simd reduction(- : sr, si)
        for (int k = 0; k < i; ++k) {
            sr -= ri[k] * re[k];
            si -= ri[k] * im[k];
        }
        re[i] = sr / ri[i];
        im[i] = si / ri[i];
    }
    for (int i = 0; i < L; ++i)
        out[i] = cd(re[i], im[i]);
}

void apes::g_forward(double w, cd* g)
{
    // g[i] = 1/S sum_{l<S} x[l+i] e^{-jwl}, the first by a direct sum, the
    // rest by sliding the window one sample at a time
    const int S = d_s;
    const cd step(std::cos(w), -std::sin(w));
    cd ph(1.0, 0.0), acc(0.0, 0.0);
    for (int l = 0; l < S; ++l) {
        acc += d_x[l] * ph;
        ph *= step;
        if ((l & 255) == 255)
            ph /= std::abs(ph);
    }
    const double inv_s = 1.0 / S;
    g[0] = acc * inv_s;
    const cd up(std::cos(w), std::sin(w));
    const cd tail = std::polar(1.0, -w * (S - 1)) * inv_s;
    for (int i = 0; i + 1 < d_l; ++i)
        g[i + 1] = up * (g[i] - d_x[i] * inv_s) + d_x[i + S] * tail;
}

cd apes::amplitude_from_g(double w, const cd* g)
{
    const int L = d_l, h = d_h, lo = L - h, S = d_s;
    // U^H g
    for (int p = 0; p < h; ++p) {
        const cd a = g[p], b = g[L - 1 - p];
        d_ug[p] = (a + b) * INV_SQRT2;
        d_ug[lo + p] = cd(0, 1) * (b - a) * INV_SQRT2;
    }
    if (L % 2)
        d_ug[h] = g[h];
    whiten_complex(d_ug.data(), d_wg.data());

    // U^H a = e^{j th/2} ra with ra real, th = w (L-1)
    const double half = 0.5 * w * (L - 1);
    for (int p = 0; p < h; ++p) {
        const double ang = w * p - half; // a[p] e^{-j th/2}
        d_ra[p] = std::sqrt(2.0) * std::cos(ang);
        d_ra[lo + p] = std::sqrt(2.0) * std::sin(ang);
    }
    if (L % 2)
        d_ra[h] = 1.0; // w*h - half = 0 for odd L
    whiten_real(d_ra.data(), d_wa.data());

    double aa = 0.0, ff = 0.0;
    cd s(0, 0), q(0, 0);
    for (int i = 0; i < L; ++i) {
        aa += d_wa[i] * d_wa[i];
        ff += std::norm(d_wg[i]);
        s += d_wa[i] * d_wg[i];
        q += d_wg[i] * d_wg[i];
    }
    const cd e_half = std::polar(1.0, -half);
    const cd e_s = std::polar(1.0, -w * (S - 1));
    const cd af = e_half * s;                   // a^H R^-1 g_f
    const cd ab = e_half * e_s * std::conj(s);  // a^H R^-1 g_b
    const cd fb = e_s * std::conj(q);           // g_f^H R^-1 g_b
    // Woodbury with G = [g_f g_b]/sqrt2: M = I - G^H R^-1 G
    const cd m11 = 1.0 - 0.5 * ff, m22 = m11, m12 = -0.5 * fb, m21 = -0.5 * std::conj(fb);
    const cd det = m11 * m22 - m12 * m21;
    const cd i11 = m22 / det, i12 = -m12 / det, i21 = -m21 / det, i22 = m11 / det;
    // u = G^H R^-1 a, v = G^H R^-1 g_f
    const cd u1 = std::conj(af) * INV_SQRT2, u2 = std::conj(ab) * INV_SQRT2;
    const cd v1 = ff * INV_SQRT2, v2 = std::conj(fb) * INV_SQRT2;
    const cd den = aa + std::conj(u1) * (i11 * u1 + i12 * u2) +
                   std::conj(u2) * (i21 * u1 + i22 * u2);
    const cd num = af + std::conj(u1) * (i11 * v1 + i12 * v2) +
                   std::conj(u2) * (i21 * v1 + i22 * v2);
    return num / den;
}

cd apes::amplitude(double w)
{
    if (!d_fitted)
        throw std::logic_error("apes: fit() the data before asking for amplitudes");
    if (d_zero)
        return cd(0, 0);
    g_forward(w, d_g.data());
    return amplitude_from_g(w, d_g.data());
}

void apes::spectrum(int nfft, cd* out)
{
    if (nfft < 1)
        throw std::invalid_argument("apes: nfft must be >= 1");
    for (int k = 0; k < nfft; ++k)
        out[k] = amplitude(2.0 * M_PI * k / nfft);
}

} // namespace arraycal
} // namespace gr
