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
 * The preamble (length L) is cut into S equal segments p_s (S = 2 for the
 * ZC sequence sent twice) that are correlated separately and combined
 * non-coherently, so a carrier offset that turns the second copy against
 * the first cannot cancel the peak. For a candidate start j
 *
 *   M[j] = 1/S sum_s  sum_c |<p~_s, y_c[j + s L/S ...]>|^2 / E_p~s
 *                     / sum_c E_cs[j]
 *
 * where p~_s is segment s with its mean removed and E_cs[j] the energy of
 * the matching window of channel c about its own mean. By Cauchy-Schwarz
 * each segment's ratio is in [0, 1]: the fraction of the received energy
 * that the segment explains, so a threshold is in clear units (one path at
 * SNR s gives s/(1+s)). Averaging over segments makes every segment count:
 * one copy over silence or payload scores at most 1/2 (the side peaks of a
 * repeated preamble). Removing the means makes a DC offset invisible;
 * summing over channels lets strong channels dominate, so a much weaker
 * channel does not hurt.
 */
class ARRAYCAL_API preamble_correlator
{
public:
    //! \param preamble known preamble (length L >= 2)
    //! \param segments non-coherent segments S (L divisible by S, L/S >= 2)
    //! \param fft_len  FFT length for block evaluation (0: automatic)
    explicit preamble_correlator(const std::vector<gr_complex>& preamble,
                                 int segments = 1,
                                 int fft_len = 0);
    ~preamble_correlator();
    preamble_correlator(const preamble_correlator&) = delete;
    preamble_correlator& operator=(const preamble_correlator&) = delete;

    int length() const { return d_len; }
    int segments() const { return d_nseg; }

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

    /*!
     * Metric at `count` consecutive candidates from `offset` (tracking):
     * direct correlations, four lags per pass over the reference, window
     * energies sliding one sample per candidate. Every chans[c] must hold
     * offset + count + L - 1 samples.
     */
    void metric_range(const std::vector<const gr_complex*>& chans,
                      int offset,
                      int count,
                      float* out);

private:
    void correlate(int seg, const gr_complex* y, int n, double* acc);

    int d_len, d_nseg, d_seglen;
    bool d_identical; // all segments equal: one correlation serves them all
    int d_fft_len;
    std::vector<std::vector<gr_complex>> d_ref;     // zero-mean segments
    std::vector<std::vector<float>> d_ref_f, d_ref_sw; // the same, re/im and im/re
    std::vector<std::vector<gr_complex>> d_ref_fft; // conj(FFT(seg)) / fft_len
    std::vector<double> d_ref_energy;
    std::unique_ptr<gr::fft::fft<gr_complex, true>> d_fwd;
    std::unique_ptr<gr::fft::fft<gr_complex, false>> d_rev;
    std::vector<double> d_num, d_den, d_tmp;
    std::vector<double> d_cum_pow, d_cum_re, d_cum_im;
    std::vector<gr_complex> d_lags;
};

} // namespace arraycal
} // namespace gr

#endif
