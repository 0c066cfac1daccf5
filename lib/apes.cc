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

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
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
    // first row R_f[0][j] = 1/S sum_l x[l] conj(x[l+j]) over split re/im
    // arrays, so that the reductions vectorise
    d_xr.resize(d_n);
    d_xi.resize(d_n);
    for (int i = 0; i < d_n; ++i) {
        d_xr[i] = d_x[i].real();
        d_xi[i] = d_x[i].imag();
    }
    for (int j = 0; j < L; ++j) {
        double re = 0.0, im = 0.0;
        const double* ar = d_xr.data();
        const double* ai = d_xi.data();
        const double* br = d_xr.data() + j;
        const double* bi = d_xi.data() + j;
#pragma omp simd reduction(+ : re, im)
        for (int l = 0; l < S; ++l) {
            re += ar[l] * br[l] + ai[l] * bi[l];
            im += ai[l] * br[l] - ar[l] * bi[l];
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
    // The forward-backward covariance is R = (R_f + J conj(R_f) J)/2. With the
    // unitary U (J conj(U) = U), U^H J conj(R_f) J U = conj(U^H R_f U), so
    //     T = U^H R U = Re(U^H R_f U),
    // real and symmetric: no explicit average is needed.
    make_real_fb();
    double trace = 0.0;
    for (int i = 0; i < L; ++i)
        trace += d_t[static_cast<size_t>(i) * L + i];
    const double base = 1e-10;
    d_regularised = false;
    for (double load = base;; load *= 100.0) {
        if (load > base)
            make_real_fb(); // the failed factorisation overwrote T
        if (cholesky(load * trace / L)) {
            d_loading = load;
            d_regularised = d_regularised || load > base;
            return;
        }
        if (load > 1e-2)
            throw std::runtime_error("apes: covariance could not be factored");
    }
}

void apes::make_real_fb()
{
    // T[p][q] = Re(sum_ab conj(U[a][p]) R_f[a][b] U[b][q]); every column of U
    // has two entries (rows p and L-1-p: 1/sqrt2 each for the top half, j/sqrt2
    // and -j/sqrt2 for the bottom half; one 1 in the middle for odd L)
    const int L = d_l, h = d_h, lo = L - h;
    auto R = [&](int i, int j) { return d_r[static_cast<size_t>(i) * L + j]; };
    // column q of U: rows r1, r2 with coefficients c1, c2
    auto col = [&](int q, int& r1, int& r2, cd& c1, cd& c2) {
        if (q < h) {
            r1 = q;
            r2 = L - 1 - q;
            c1 = c2 = cd(INV_SQRT2, 0.0);
        } else if (q >= lo) {
            const int p = q - lo;
            r1 = p;
            r2 = L - 1 - p;
            c1 = cd(0.0, INV_SQRT2);
            c2 = cd(0.0, -INV_SQRT2);
        } else { // middle of an odd L
            r1 = r2 = q;
            c1 = cd(1.0, 0.0);
            c2 = cd(0.0, 0.0);
        }
    };
    for (int p = 0; p < L; ++p) {
        int a1, a2;
        cd u1, u2;
        col(p, a1, a2, u1, u2);
        u1 = std::conj(u1);
        u2 = std::conj(u2);
        for (int q = p; q < L; ++q) {
            int b1, b2;
            cd v1, v2;
            col(q, b1, b2, v1, v2);
            const cd t = u1 * (R(a1, b1) * v1 + R(a1, b2) * v2) +
                         u2 * (R(a2, b1) * v1 + R(a2, b2) * v2);
            d_t[static_cast<size_t>(p) * L + q] = t.real();
            d_t[static_cast<size_t>(q) * L + p] = t.real();
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
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

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
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

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
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

void apes::ra_vector(double w, double* ra)
{
    // U^H a = e^{j w (L-1)/2} ra with ra real
    const int L = d_l, h = d_h, lo = L - h;
    const double half = 0.5 * w * (L - 1);
    for (int p = 0; p < h; ++p) {
        const double ang = w * p - half;
        ra[p] = std::sqrt(2.0) * std::cos(ang);
        ra[lo + p] = std::sqrt(2.0) * std::sin(ang);
    }
    if (L % 2)
        ra[h] = 1.0; // w*h - half = 0 for odd L
}

cd apes::woodbury(double w, double aa, cd s, cd q, double ff)
{
    // With whitened wa (real, times e^{j w (L-1)/2}) and wg = C^-1 U^H g_f:
    // aa = |wa|^2, s = sum wa wg, q = sum wg^2, ff = |wg|^2; g_b's whitened
    // vector is e^{-j w (S-1)} conj(wg), so every inner product follows.
    const int L = d_l, S = d_s;
    const double half = 0.5 * w * (L - 1);
    const cd e_half = std::polar(1.0, -half);
    const cd e_s = std::polar(1.0, -w * (S - 1));
    const cd af = e_half * s;                  // a^H R^-1 g_f
    const cd ab = e_half * e_s * std::conj(s); // a^H R^-1 g_b
    const cd fb = e_s * std::conj(q);          // g_f^H R^-1 g_b
    // Woodbury with G = [g_f g_b]/sqrt2: M = I - G^H R^-1 G
    const cd m11 = 1.0 - 0.5 * ff, m22 = m11, m12 = -0.5 * fb, m21 = -0.5 * std::conj(fb);
    const cd det = m11 * m22 - m12 * m21;
    const cd i11 = m22 / det, i12 = -m12 / det, i21 = -m21 / det, i22 = m11 / det;
    // u = G^H R^-1 a, v = G^H R^-1 g_f
    const cd u1 = std::conj(af) * INV_SQRT2, u2 = std::conj(ab) * INV_SQRT2;
    const cd v1 = ff * INV_SQRT2, v2 = std::conj(fb) * INV_SQRT2;
    const cd den =
        aa + std::conj(u1) * (i11 * u1 + i12 * u2) + std::conj(u2) * (i21 * u1 + i22 * u2);
    const cd num =
        af + std::conj(u1) * (i11 * v1 + i12 * v2) + std::conj(u2) * (i21 * v1 + i22 * v2);
    return num / den;
}

cd apes::amplitude_from_g(double w, const cd* g)
{
    const int L = d_l, h = d_h, lo = L - h;
    // U^H g
    for (int p = 0; p < h; ++p) {
        const cd a = g[p], b = g[L - 1 - p];
        d_ug[p] = (a + b) * INV_SQRT2;
        d_ug[lo + p] = cd(0, 1) * (b - a) * INV_SQRT2;
    }
    if (L % 2)
        d_ug[h] = g[h];
    whiten_complex(d_ug.data(), d_wg.data());
    ra_vector(w, d_ra.data());
    whiten_real(d_ra.data(), d_wa.data());
    double aa = 0.0, ff = 0.0;
    cd s(0, 0), q(0, 0);
    for (int i = 0; i < L; ++i) {
        aa += d_wa[i] * d_wa[i];
        ff += std::norm(d_wg[i]);
        s += d_wa[i] * d_wg[i];
        q += d_wg[i] * d_wg[i];
    }
    return woodbury(w, aa, s, q, ff);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void apes::solve_batch(double* X, int ncols)
{
    // forward substitution C X = B for ncols right-hand sides at once: each
    // row of C is read once per batch, the inner loop runs over the columns
    const int L = d_l;
    for (int i = 0; i < L; ++i) {
        const double* ri = &d_t[static_cast<size_t>(i) * L];
        double* xi = X + static_cast<size_t>(i) * ncols;
        for (int k = 0; k < i; ++k) {
            const double c = ri[k];
            const double* xk = X + static_cast<size_t>(k) * ncols;
#pragma omp simd
            for (int g = 0; g < ncols; ++g)
                xi[g] -= c * xk[g];
        }
        const double inv = 1.0 / ri[i];
#pragma omp simd
        for (int g = 0; g < ncols; ++g)
            xi[g] *= inv;
    }
}

void apes::amplitudes(const double* w, int n, cd* out)
{
    if (!d_fitted)
        throw std::logic_error("apes: fit() the data before asking for amplitudes");
    if (d_zero) {
        std::fill(out, out + n, cd(0, 0));
        return;
    }
    const int L = d_l, h = d_h, lo = L - h;
    constexpr int B = 64;
    for (int b0 = 0; b0 < n; b0 += B) {
        const int nb = std::min(B, n - b0);
        const int nc = 3 * nb; // columns: re(U^H g), im(U^H g), ra per frequency
        d_batch.assign(static_cast<size_t>(L) * nc, 0.0);
        for (int j = 0; j < nb; ++j) {
            g_forward(w[b0 + j], d_g.data());
            const cd* g = d_g.data();
            auto put = [&](int row, cd v) {
                d_batch[static_cast<size_t>(row) * nc + j] = v.real();
                d_batch[static_cast<size_t>(row) * nc + nb + j] = v.imag();
            };
            for (int p = 0; p < h; ++p) {
                const cd a = g[p], bb = g[L - 1 - p];
                put(p, (a + bb) * INV_SQRT2);
                put(lo + p, cd(0, 1) * (bb - a) * INV_SQRT2);
            }
            if (L % 2)
                put(h, g[h]);
            ra_vector(w[b0 + j], d_ra.data());
            for (int i = 0; i < L; ++i)
                d_batch[static_cast<size_t>(i) * nc + 2 * nb + j] = d_ra[i];
        }
        solve_batch(d_batch.data(), nc);
        for (int j = 0; j < nb; ++j) {
            double aa = 0.0, ff = 0.0;
            cd s(0, 0), q(0, 0);
            for (int i = 0; i < L; ++i) {
                const double* row = &d_batch[static_cast<size_t>(i) * nc];
                const cd wg(row[j], row[nb + j]);
                const double wa = row[2 * nb + j];
                aa += wa * wa;
                ff += std::norm(wg);
                s += wa * wg;
                q += wg * wg;
            }
            out[b0 + j] = woodbury(w[b0 + j], aa, s, q, ff);
        }
    }
}

void apes::capon(const double* w, int n, double* out)
{
    if (!d_fitted)
        throw std::logic_error("apes: fit() the data before asking for a spectrum");
    if (d_zero) {
        std::fill(out, out + n, 0.0);
        return;
    }
    const int L = d_l;
    if (n < 4) {
        // a few frequencies: the row-dot solver vectorises, the batch one not
        for (int j = 0; j < n; ++j) {
            ra_vector(w[j], d_ra.data());
            whiten_real(d_ra.data(), d_wa.data());
            double aa = 0.0;
            for (int i = 0; i < L; ++i)
                aa += d_wa[i] * d_wa[i];
            out[j] = 1.0 / aa;
        }
        return;
    }
    constexpr int B = 64;
    for (int b0 = 0; b0 < n; b0 += B) {
        const int nb = std::min(B, n - b0);
        d_batch.resize(static_cast<size_t>(L) * nb);
        for (int j = 0; j < nb; ++j) {
            ra_vector(w[b0 + j], d_ra.data());
            for (int i = 0; i < L; ++i)
                d_batch[static_cast<size_t>(i) * nb + j] = d_ra[i];
        }
        solve_batch(d_batch.data(), nb);
        for (int j = 0; j < nb; ++j) {
            double aa = 0.0;
            for (int i = 0; i < L; ++i) {
                const double v = d_batch[static_cast<size_t>(i) * nb + j];
                aa += v * v;
            }
            out[b0 + j] = 1.0 / aa; // 1 / (a^H R^-1 a)
        }
    }
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
    std::vector<double> w(nfft);
    for (int k = 0; k < nfft; ++k)
        w[k] = 2.0 * M_PI * k / nfft;
    amplitudes(w.data(), nfft, out);
}

} // namespace arraycal
} // namespace gr
