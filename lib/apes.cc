/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "simd.h"
#include <gnuradio/arraycal/apes.h>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace gr {
namespace arraycal {

using cd = std::complex<double>;
static const double INV_SQRT2 = 0.70710678118654752440;

// Four doubles as one value: GCC/Clang generic vectors, mapped to AVX2 or
// NEON registers (or pairs of SSE2 ones) by the compiler, no intrinsics.
// aligned(8): loads and stores through it may be unaligned.
typedef double v4d __attribute__((vector_size(32), aligned(8)));

static inline double hsum(v4d v) { return (v[0] + v[1]) + (v[2] + v[3]); }

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
    // the largest batch (amplitudes: 3 x 64 columns) and the FB
    // columns: fit() and the spectra allocate nothing
    d_batch.reserve(static_cast<size_t>(d_l) * 3 * 64);
    d_cols.reserve(d_l);
    d_xr.reserve(d_n);
    d_xi.reserve(d_n);
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

ARRAYCAL_CLONES
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
    // four lags at a time share the loads of x[l]; eight running sums
    const double* ar = d_xr.data();
    const double* ai = d_xi.data();
    int j = 0;
    for (; j + 4 <= L; j += 4) {
        v4d re[4], im[4];
        for (int t = 0; t < 4; ++t)
            re[t] = im[t] = v4d{ 0.0, 0.0, 0.0, 0.0 };
        int l = 0;
        for (; l + 4 <= S; l += 4) {
            const v4d xr = *reinterpret_cast<const v4d*>(ar + l);
            const v4d xi = *reinterpret_cast<const v4d*>(ai + l);
            for (int t = 0; t < 4; ++t) {
                const v4d yr = *reinterpret_cast<const v4d*>(ar + l + j + t);
                const v4d yi = *reinterpret_cast<const v4d*>(ai + l + j + t);
                re[t] += xr * yr + xi * yi;
                im[t] += xi * yr - xr * yi;
            }
        }
        for (int t = 0; t < 4; ++t) {
            double sr = hsum(re[t]), si = hsum(im[t]);
            for (int ll = l; ll < S; ++ll) {
                sr += ar[ll] * ar[ll + j + t] + ai[ll] * ai[ll + j + t];
                si += ai[ll] * ar[ll + j + t] - ar[ll] * ai[ll + j + t];
            }
            R(0, j + t) = cd(sr, si) * inv_s;
        }
    }
    for (; j < L; ++j) {
        double sr = 0.0, si = 0.0;
        for (int l = 0; l < S; ++l) {
            sr += ar[l] * ar[l + j] + ai[l] * ai[l + j];
            si += ai[l] * ar[l + j] - ar[l] * ai[l + j];
        }
        R(0, j) = cd(sr, si) * inv_s;
    }
    for (int i = 0; i + 1 < L; ++i)
        for (int j = i; j + 1 < L; ++j)
            R(i + 1, j + 1) = R(i, j) + (d_x[S + i] * std::conj(d_x[S + j]) -
                                         d_x[i] * std::conj(d_x[j])) *
                                            inv_s;
    // lower triangle = conjugate transpose, in 16 x 16 tiles (a plain column
    // walk misses the cache on every element of a 640 kB matrix)
    constexpr int TB = 16;
    for (int i0 = 0; i0 < L; i0 += TB)
        for (int j0 = 0; j0 <= i0; j0 += TB)
            for (int i = i0; i < std::min(L, i0 + TB); ++i)
                for (int j = j0; j < std::min(i, j0 + TB); ++j)
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
    // T[p][q] = Re(u_p^H R_f u_q) for the columns u of U. Column q has two
    // entries: u_q = phi_q (e_r1 + sigma_q e_r2) c_q with rows r1 = q, r2 =
    // L-1-q, sigma = +1, phi = 1 for the top half; r1 = q-lo, r2 = L-1-r1,
    // sigma = -1, phi = j for the bottom half; and e_h = (e_h + e_h)/2 in the
    // middle of an odd L. So u_p^H R_f u_q = conj(phi_p) phi_q c_p c_q z with
    // z = R[a][b] + s_q R[a][b'] + s_p R[a'][b] + s_p s_q R[a'][b'], and the
    // phase conj(phi_p) phi_q is 1, j or -j: T takes Re z, -Im z or Im z.
    const int L = d_l, h = d_h, lo = L - h;
    auto R = [&](int i, int j) { return d_r[static_cast<size_t>(i) * L + j]; };
    std::vector<column_map>& cols = d_cols;
    cols.resize(L);
    for (int q = 0; q < L; ++q) {
        if (q < h)
            cols[q] = { q, L - 1 - q, 1.0, INV_SQRT2, false };
        else if (q >= lo)
            cols[q] = { q - lo, L - 1 - (q - lo), -1.0, INV_SQRT2, true };
        else
            cols[q] = { q, q, 1.0, 0.5, false };
    }
    for (int p = 0; p < L; ++p) {
        const column_map& cp = cols[p];
        for (int q = p; q < L; ++q) {
            const column_map& cq = cols[q];
            const cd z = R(cp.r1, cq.r1) + cq.sigma * R(cp.r1, cq.r2) +
                         cp.sigma * (R(cp.r2, cq.r1) + cq.sigma * R(cp.r2, cq.r2));
            double t;
            if (cp.bottom == cq.bottom)
                t = z.real();
            else if (cq.bottom)
                t = -z.imag(); // conj(1) j
            else
                t = z.imag(); // conj(j) 1
            t *= cp.scale * cq.scale;
            d_t[static_cast<size_t>(p) * L + q] = t;
            d_t[static_cast<size_t>(q) * L + p] = t;
        }
    }
}

// Dot product over k < n with two vectors of partial sums: independent sums
// keep the FMA pipeline full, where one running sum waits on the FMA latency
// at every step.
static inline __attribute__((always_inline)) double
dot(const double* a, const double* b, int n)
{
    v4d acc0 = { 0.0, 0.0, 0.0, 0.0 }, acc1 = acc0;
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        acc0 += *reinterpret_cast<const v4d*>(a + k) * *reinterpret_cast<const v4d*>(b + k);
        acc1 += *reinterpret_cast<const v4d*>(a + k + 4) * *reinterpret_cast<const v4d*>(b + k + 4);
    }
    double s = hsum(acc0 + acc1);
    for (; k < n; ++k)
        s += a[k] * b[k];
    return s;
}

// dot products over k < n of 4 rows a[r] with two rows b0, b1 at once: one
// load of a row serves both columns (8 running sums)
static inline __attribute__((always_inline)) void
dot_rows4x2(const double* const* a, const double* b0, const double* b1, int n,
            double* out0, double* out1)
{
    v4d s0[4], s1[4];
    for (int r = 0; r < 4; ++r)
        s0[r] = s1[r] = v4d{ 0.0, 0.0, 0.0, 0.0 };
    int k = 0;
    for (; k + 4 <= n; k += 4) {
        const v4d u = *reinterpret_cast<const v4d*>(b0 + k);
        const v4d v = *reinterpret_cast<const v4d*>(b1 + k);
        for (int r = 0; r < 4; ++r) {
            const v4d x = *reinterpret_cast<const v4d*>(a[r] + k);
            s0[r] += x * u;
            s1[r] += x * v;
        }
    }
    for (int r = 0; r < 4; ++r) {
        double t0 = hsum(s0[r]), t1 = hsum(s1[r]);
        for (int kk = k; kk < n; ++kk) {
            t0 += a[r][kk] * b0[kk];
            t1 += a[r][kk] * b1[kk];
        }
        out0[r] = t0;
        out1[r] = t1;
    }
}

ARRAYCAL_CLONES
bool apes::cholesky(double load)
{
    // Left-looking (Crout) by rows, two columns j, j+1 per pass: every row
    // below needs its dot products with rows j and j+1 over k < j, and four
    // rows at a time share those loads (most of the L^3/3 flops are in
    // dot_rows4x2); the k = j term of column j+1 is added afterwards.
    const int L = d_l;
    double* T = d_t.data();
    double min_pivot = INFINITY;
    int j = 0;
    while (j < L) {
        double* rj = T + static_cast<size_t>(j) * L;
        const double s = rj[j] + load - dot(rj, rj, j);
        if (!(s > 0.0))
            return false;
        rj[j] = std::sqrt(s);
        min_pivot = std::min(min_pivot, s);
        const double inv0 = 1.0 / rj[j];
        if (j + 1 == L)
            break;
        // row j+1: its entry in column j, then its pivot
        double* rn = T + static_cast<size_t>(j + 1) * L;
        rn[j] = (rn[j] - dot(rn, rj, j)) * inv0;
        const double s1 = rn[j + 1] + load - dot(rn, rn, j + 1);
        if (!(s1 > 0.0))
            return false;
        rn[j + 1] = std::sqrt(s1);
        min_pivot = std::min(min_pivot, s1);
        const double inv1 = 1.0 / rn[j + 1];
        const double c = rn[j];
        int i = j + 2;
        for (; i + 4 <= L; i += 4) {
            double* rows[4];
            for (int r = 0; r < 4; ++r)
                rows[r] = T + static_cast<size_t>(i + r) * L;
            double d0[4], d1[4];
            dot_rows4x2(rows, rj, rn, j, d0, d1);
            for (int r = 0; r < 4; ++r) {
                const double v = (rows[r][j] - d0[r]) * inv0;
                rows[r][j] = v;
                rows[r][j + 1] = (rows[r][j + 1] - d1[r] - v * c) * inv1;
            }
        }
        for (; i < L; ++i) {
            double* ri = T + static_cast<size_t>(i) * L;
            const double v = (ri[j] - dot(ri, rj, j)) * inv0;
            ri[j] = v;
            ri[j + 1] = (ri[j + 1] - dot(ri, rn, j) - v * c) * inv1;
        }
        j += 2;
    }
    // the load dominating a direction means the data were (nearly) rank deficient
    if (min_pivot < 100.0 * load)
        d_regularised = true;
    return true;
}

ARRAYCAL_CLONES
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

ARRAYCAL_CLONES
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
    // sqrt2 e^{j(w p - half)} by a rotating phasor (a sine and cosine per
    // element cost more than the whole solve); exact again every 64 steps
    const cd step = std::polar(1.0, w);
    cd ph;
    for (int p = 0; p < h; ++p) {
        if ((p & 63) == 0)
            ph = std::polar(std::sqrt(2.0), w * p - half);
        ra[p] = ph.real();
        ra[lo + p] = ph.imag();
        ph *= step;
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

// Rows i of C^-1 X for NT tiles of 8 columns: x_i = (b_i - sum_k<i C_ik x_k) / C_ii,
// the sums held in 2*NT vector registers while k runs (each row of C is read
// once per group of tiles, X stays in L1)
template <int NT>
static inline __attribute__((always_inline)) void
solve_tiles(const double* C, int L, double* X, int ld)
{
    for (int i = 0; i < L; ++i) {
        const double* ri = C + static_cast<size_t>(i) * L;
        v4d acc[2 * NT];
        for (int t = 0; t < 2 * NT; ++t)
            acc[t] = v4d{ 0.0, 0.0, 0.0, 0.0 };
        for (int k = 0; k < i; ++k) {
            const double c = ri[k];
            const double* xk = X + static_cast<size_t>(k) * ld;
            for (int t = 0; t < 2 * NT; ++t)
                acc[t] += c * *reinterpret_cast<const v4d*>(xk + 4 * t);
        }
        const double inv = 1.0 / ri[i];
        double* xi = X + static_cast<size_t>(i) * ld;
        for (int t = 0; t < 2 * NT; ++t) {
            v4d* p = reinterpret_cast<v4d*>(xi + 4 * t);
            *p = (*p - acc[t]) * inv;
        }
    }
}

ARRAYCAL_CLONES
void apes::solve_batch(double* X, int ld)
{
    // forward substitution C X = B in place; ld (the row stride) is a
    // multiple of 8 and every column up to it is solved (padding included)
    const int L = d_l;
    const double* C = d_t.data();
    int c0 = 0;
    for (; c0 + 24 <= ld; c0 += 24)
        solve_tiles<3>(C, L, X + c0, ld);
    if (ld - c0 == 16)
        solve_tiles<2>(C, L, X + c0, ld);
    else if (ld - c0 == 8)
        solve_tiles<1>(C, L, X + c0, ld);
}

static inline int padded8(int n) { return (n + 7) & ~7; }

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
        // columns: re(U^H g), im(U^H g), ra per frequency, then zero padding
        const int nc = padded8(3 * nb);
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
        const int ld = padded8(nb);
        d_batch.assign(static_cast<size_t>(L) * ld, 0.0);
        for (int j = 0; j < nb; ++j) {
            ra_vector(w[b0 + j], d_ra.data());
            for (int i = 0; i < L; ++i)
                d_batch[static_cast<size_t>(i) * ld + j] = d_ra[i];
        }
        solve_batch(d_batch.data(), ld);
        for (int j = 0; j < nb; ++j) {
            double aa = 0.0;
            for (int i = 0; i < L; ++i) {
                const double v = d_batch[static_cast<size_t>(i) * ld + j];
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
