/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_CAPES_SEARCH_H
#define INCLUDED_ARRAYCAL_CAPES_SEARCH_H

#include <gnuradio/arraycal/apes.h>
#include <gnuradio/arraycal/cir_los.h>
#include <complex>
#include <vector>

namespace gr {
namespace arraycal {

/*!
 * CAPES (Jakobsson & Stoica) around a first LoS guess: the delay from the
 * Capon spectrum, the gain from forward-backward APES at that delay. Both
 * share one FB covariance and Cholesky factor. APES peaks lean together for
 * close paths; Capon's do not, and the APES filter at the right delay nulls
 * a reflection that leaks into the FFT's gain.
 *
 * The input is the centred response x[i] = H[i - kh], i < 2 kh + 1, of a
 * K-bin grid: one path a at delay t gives x[i] = a e^{j2pi kh t/K}
 * e^{-j2pi i t/K}, so delay t is w = -2 pi t/K and the gain is
 * alpha(w) e^{-j2pi kh t/K}. Every buffer is sized here: search() allocates
 * nothing.
 */
class capes_search
{
public:
    //! \param K bins of the grid; \param filter_len APES L; span, step in samples
    capes_search(int K, int filter_len, double span, double step);

    int filter_len() const { return d_l; }

    struct result {
        double delay;              //!< samples (not wrapped)
        std::complex<double> gain; //!< APES amplitude at that delay
    };

    /*!
     * Capon's local maxima over guess +- span on a grid of step samples
     * (no coarser than 32/L: Capon peaks narrow as L grows), each refined,
     * then picked by the rule: the strongest; for "first" the earliest within
     * threshold_db of it; for "predicted" the closest to predicted_delay.
     * Without a local maximum the guess stays.
     */
    result search(const gr_complex* centred,
                  double guess,
                  los_pick mode,
                  double threshold_db,
                  double predicted_delay);

private:
    struct peak {
        double delay, power;
    };
    //! Capon's peak near grid point t: 17 points over +-1 step, a parabola in log power
    peak refine(double t);

    static constexpr int SUB = 17;
    const int d_k, d_kh, d_l;
    const double d_step; // grid step, samples
    const int d_half;    // grid points each side of the guess
    apes d_apes;
    std::vector<double> d_w, d_p;  // the grid's frequencies and Capon powers
    std::vector<peak> d_peaks;     // at most one per grid point
    double d_sw[SUB], d_sp[SUB];   // refinement
};

} // namespace arraycal
} // namespace gr

#endif
