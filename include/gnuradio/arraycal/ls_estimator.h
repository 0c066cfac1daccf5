/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LS_ESTIMATOR_H
#define INCLUDED_ARRAYCAL_LS_ESTIMATOR_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/arraycal/dft.h>
#include <gnuradio/gr_complex.h>
#include <vector>

namespace gr {
namespace arraycal {

/*!
 * \brief Least-squares channel estimate over one packet: H[k] = Y[k] / X[k].
 *
 * Packets are sent back to back, so the previous packet is the cyclic
 * prefix of the next and a K-sample window starting at a frame start sees
 * the circular convolution of the packet with the channel: the DFT of the
 * window divided by the packet's DFT is the channel frequency response on
 * K bins (FFT order, bin 0 = DC). Unnormalised DFTs: a one-tap channel
 * h[0] = a gives H[k] = a on every bin.
 */
class ARRAYCAL_API ls_estimator
{
public:
    explicit ls_estimator(const std::vector<gr_complex>& packet);
    ls_estimator(const ls_estimator&) = delete;
    ls_estimator& operator=(const ls_estimator&) = delete;

    int length() const { return d_len; }
    //! Packet spectrum X[k].
    const std::vector<gr_complex>& spectrum() const { return d_x; }
    /*!
     * Noise gain of the division, rho = mean_k(K/|X[k]|^2) >= 1 for a
     * unit-power packet: a CIR tap estimated from H has noise variance
     * sigma^2 rho / K.
     */
    double noise_gain() const { return d_rho; }
    //! Smallest |X[k]|^2/K in dB (how safe the division is).
    double spectrum_floor_db() const { return d_floor_db; }

    //! y: K received samples from the frame start; H: K output bins.
    void estimate(const gr_complex* y, gr_complex* H);

    /*!
     * Estimate from y[n] * w[n] from now on (w: K values, e.g. a carrier
     * offset correction's phasors; nullptr: none). Folded into the DFT's
     * chirp once, so every channel of a frame shares the cost.
     */
    void set_input_weights(const gr_complex* w) { d_dft.set_input_weights(w); }

    //! Estimate from y[n] exp(j (phase + n increment)) from now on.
    void set_input_rotation(double phase, double increment)
    {
        d_dft.set_input_rotation(phase, increment);
    }

private:
    int d_len;
    dft d_dft;
    std::vector<gr_complex> d_x;
    std::vector<gr_complex> d_inv_x;
    double d_rho;
    double d_floor_db;
};

} // namespace arraycal
} // namespace gr

#endif
