/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_DFT_H
#define INCLUDED_ARRAYCAL_DFT_H

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
 * \brief Smallest length >= n whose only prime factors are 2, 3 and 5.
 */
ARRAYCAL_API int fast_fft_size(int n);

/*!
 * \brief Largest prime factor of n (n >= 1).
 */
ARRAYCAL_API int largest_prime_factor(int n);

/*!
 * \brief DFT of any length, unnormalised, X[k] = sum_n x[n] exp(-+j 2 pi k n / N).
 *
 * Packet lengths such as the thesis's 1278 = 2*3^2*71 have a large prime
 * factor that makes FFTW about ten times slower than a nearby smooth size,
 * so lengths with a prime factor above 13 use Bluestein's chirp-z algorithm
 * on a smooth FFT of at least 2N-1 points, done as two pairs of half-length
 * FFTs (the input fills half of it, half of the output is used). Other
 * lengths go to FFTW directly.
 * Not thread safe: one instance per thread.
 */
class ARRAYCAL_API dft
{
public:
    dft(int length, bool forward);
    ~dft();
    dft(const dft&) = delete;
    dft& operator=(const dft&) = delete;

    int length() const { return d_n; }
    bool uses_bluestein() const { return d_bluestein; }

    //! out may alias in.
    void execute(const gr_complex* in, gr_complex* out);

    /*!
     * Output weights: execute() then returns X[k] * w[k]. Folds a per-bin
     * scaling (e.g. the LS division by the packet spectrum) into the last
     * multiply of Bluestein's algorithm for free.
     */
    void set_output_weights(const std::vector<gr_complex>& w);

    /*!
     * Input weights: execute() then transforms x[n] * w[n] (w: length()
     * values, copied; nullptr: none). Bluestein folds them into its chirp
     * products here, once, so that every execute() until the next call
     * costs nothing more: one carrier-offset correction for all channels
     * of a frame.
     */
    void set_input_weights(const gr_complex* w);

    /*!
     * Input weights w[n] = exp(j (phase + n increment)), a carrier offset
     * correction, made straight into the chirp products in one pass.
     */
    void set_input_rotation(double phase, double increment);

private:
    int d_n;
    bool d_forward;
    bool d_bluestein;
    int d_m;  // Bluestein convolution length, 2 * d_m1
    int d_m1; // FFT length of each half
    std::unique_ptr<gr::fft::fft<gr_complex, true>> d_fwd;
    std::unique_ptr<gr::fft::fft<gr_complex, false>> d_rev;
    std::unique_ptr<gr::fft::fft<gr_complex, true>> d_fwd_odd; // Bluestein's odd bins
    std::unique_ptr<gr::fft::fft<gr_complex, false>> d_rev_odd;
    std::vector<gr_complex> d_chirp;      // exp(-+j pi n^2 / N), n < N
    std::vector<gr_complex> d_out_chirp;  // chirp times output weights
    std::vector<gr_complex> d_weights;    // output weights (non-Bluestein path)
    std::vector<gr_complex> d_in_weights; // input weights (non-Bluestein path)
    std::vector<gr_complex> d_in_chirp;   // chirp times input weights
    bool d_weighted_in = false;
    std::vector<gr_complex> d_tw;         // exp(-j 2 pi n / M): the odd bins' input twiddle
    std::vector<gr_complex> d_out_odd;    // output chirp (and weights) times exp(+-j 2 pi n / M)
    std::vector<gr_complex> d_kernel_even, d_kernel_odd; // FFT of the conjugate chirp, /M
};

} // namespace arraycal
} // namespace gr

#endif
