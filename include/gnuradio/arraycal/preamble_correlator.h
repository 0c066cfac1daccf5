/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_PREAMBLE_CORRELATOR_H
#define INCLUDED_ARRAYCAL_PREAMBLE_CORRELATOR_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/gr_complex.h>
#include <memory>
#include <vector>

namespace gr {
namespace fft {
template <class T, bool forward>
class fft;
}
namespace arraycal {

/*!
 * \brief Normalised joint correlation metric of N channels against a known preamble.
 *
 * For a candidate start j the metric is
 *
 *   M[j] = sum_c |sum_k conj(p~[k]) y_c[j+k]|^2 / ( E_p~ * sum_c E_c[j] )
 *
 * where p~ is the preamble with its mean removed and E_c[j] the energy of
 * y_c[j..j+L-1] about its own mean. By Cauchy-Schwarz 0 <= M <= 1: M is the
 * fraction of the received energy that the preamble explains, so a threshold
 * is in clear units (for one path, M = SNR/(1+SNR)). Removing the means makes
 * a DC offset invisible, and summing numerator and denominator over channels
 * lets strong channels dominate, so a much weaker channel does not hurt.
 */
class ARRAYCAL_API preamble_correlator
{
public:
    //! \param preamble known preamble (length L >= 2)
    //! \param fft_len  FFT length for block evaluation (0: automatic)
    explicit preamble_correlator(const std::vector<gr_complex>& preamble,
                                 int fft_len = 0);
    ~preamble_correlator();
    preamble_correlator(const preamble_correlator&) = delete;
    preamble_correlator& operator=(const preamble_correlator&) = delete;

    int length() const { return d_len; }

    /*!
     * Metric for candidates j = 0..n-1. Every chans[c] must hold n+L-1
     * samples starting at chans[c][0]. Uses overlap-save FFT correlation.
     */
    void metric_block(const std::vector<const gr_complex*>& chans, int n, float* out);

    /*!
     * Metric at one candidate start (direct VOLK dot products): cheap when
     * only a few candidates are needed, as in tracking.
     */
    float metric_at(const std::vector<const gr_complex*>& chans, int offset);

private:
    int d_len;
    int d_fft_len;
    std::vector<gr_complex> d_ref;     // zero-mean preamble
    std::vector<gr_complex> d_ref_fft; // conj(FFT(ref)) / fft_len
    double d_ref_energy;
    std::unique_ptr<gr::fft::fft<gr_complex, true>> d_fwd;
    std::unique_ptr<gr::fft::fft<gr_complex, false>> d_rev;
    std::vector<double> d_num, d_den;   // per-candidate accumulators
    std::vector<double> d_cum_pow;      // prefix sums for sliding energies
    std::vector<double> d_cum_re, d_cum_im;
};

} // namespace arraycal
} // namespace gr

#endif
