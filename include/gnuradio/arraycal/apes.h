/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_APES_H
#define INCLUDED_ARRAYCAL_APES_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/gr_complex.h>
#include <complex>
#include <vector>

namespace gr {
namespace arraycal {

/*!
 * \brief Forward-backward APES (amplitude and phase estimation of a sinusoid).
 *
 * Textbook definition (Li & Stoica 1996; Li, Li & Stoica 1998): with data
 * x[0..N-1], filter length L and S = N-L+1 snapshots y_l = x[l..l+L-1],
 *   R_f = 1/S sum_l y_l y_l^H,  R = (R_f + J conj(R_f) J)/2,
 *   g_f(w) = 1/S sum_l y_l e^{-jwl},  g_b(w) = the same for the backward
 *   snapshots J conj(y_{S-1-l}) (conjugated: the thesis's apes.m omits it),
 *   Q(w) = R - (g_f g_f^H + g_b g_b^H)/2,
 *   alpha(w) = a^H Q^-1 g_f / (a^H Q^-1 a),  a = [1, e^{jw}, ..., e^{jw(L-1)}].
 * For x[n] = alpha e^{jwn} the estimate at w is alpha.
 *
 * Fast, exact evaluation: the covariance of the Hankel data is built by the
 * recursion R_f[i+1][j+1] = R_f[i][j] + (x[S+i]x*[S+j] - x[i]x*[j])/S in
 * O(L S + L^2); R is centro-Hermitian, so a fixed unitary transform U makes
 * U^H R U real and one real Cholesky (L^3/6) whitens it; g_b follows from
 * conj(g_f), U^H a is a real vector times a phase, and Q^-1 is applied by
 * the Woodbury identity with a 2x2 inverse. Each frequency then costs one
 * complex and one real triangular solve, 1.5 L^2 multiply-adds. Double
 * precision throughout.
 *
 * Ill-conditioned covariances (noise-free data, one tone) are loaded on the
 * diagonal: 1e-10 * trace/L always, raised by 100x until the Cholesky
 * succeeds; regularised() says when more than the base load was needed.
 * All-zero data give alpha = 0 everywhere.
 */
class ARRAYCAL_API apes
{
public:
    //! \param n data length N; \param filter_len L, 1 <= L < N
    apes(int n, int filter_len);

    int length() const { return d_n; }
    int filter_len() const { return d_l; }

    //! Estimate the covariance of x (N samples) and factor it.
    void fit(const gr_complex* x);
    void fit(const std::complex<double>* x);
    //! Amplitude estimate at angular frequency w (rad/sample) for the fitted data.
    std::complex<double> amplitude(double w);
    /*!
     * Amplitudes at n frequencies: the whitening solves run as one
     * multi-right-hand-side triangular solve (the Cholesky factor is read
     * once per batch of up to 64 frequencies instead of once per frequency).
     */
    void amplitudes(const double* w, int n, std::complex<double>* out);
    //! Amplitude at w_k = 2 pi k / nfft for every k < nfft.
    void spectrum(int nfft, std::complex<double>* out);
    //! Capon spectrum 1 / (a^H R^-1 a) at n frequencies (power; sharper peaks, biased level).
    void capon(const double* w, int n, double* out);

    //! True when the last fit needed more than the base diagonal load.
    bool regularised() const { return d_regularised; }
    //! Diagonal load of the last fit, relative to trace/L.
    double loading() const { return d_loading; }
    //! True when the last fit saw all-zero data.
    bool zero_data() const { return d_zero; }

private:
    void build_covariance();
    void make_real_fb(); // d_t = Re(U^H R_f U) from d_r
    bool cholesky(double load);
    void g_forward(double w, std::complex<double>* g);
    void whiten_complex(const std::complex<double>* v, std::complex<double>* out);
    void whiten_real(const double* v, double* out);
    std::complex<double> amplitude_from_g(double w, const std::complex<double>* g);
    void solve_batch(double* X, int ld); // C^-1 X in place, X is L x ld row-major, ld % 8 == 0
    std::complex<double> woodbury(double w, double aa, std::complex<double> s,
                                  std::complex<double> q, double ff);
    void ra_vector(double w, double* ra); // real U^H a(w) e^{-j w (L-1)/2}

    int d_n, d_l, d_s, d_h; // h = L/2 (pairs in the unitary transform)
    std::vector<std::complex<double>> d_x;
    std::vector<std::complex<double>> d_r; // R_f, then R (row-major, L x L)
    std::vector<double> d_t;               // real U^H R U, then its Cholesky factor
    std::vector<double> d_tmp_re, d_tmp_im, d_ra, d_wa;
    std::vector<std::complex<double>> d_g, d_ug, d_wg;
    std::vector<double> d_batch; // L x (3 * batch) right-hand sides
    std::vector<double> d_xr, d_xi;
    struct column_map {
        int r1, r2;
        double sigma, scale;
        bool bottom;
    };
    std::vector<column_map> d_cols; // the two entries of each column of U
    double d_loading = 0.0;
    bool d_regularised = false;
    bool d_zero = false;
    bool d_fitted = false;
};

} // namespace arraycal
} // namespace gr

#endif
