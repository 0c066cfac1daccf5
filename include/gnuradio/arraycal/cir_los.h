/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_CIR_LOS_H
#define INCLUDED_ARRAYCAL_CIR_LOS_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/gr_complex.h>
#include <volk/volk_alloc.hh>
#include <memory>
#include <string>
#include <vector>

namespace gr {
namespace fft {
template <class T, bool forward>
class fft;
}
namespace arraycal {

class capes_search;

//! One channel's line-of-sight estimate.
struct ARRAYCAL_API los_estimate {
    gr_complex gain{ 0.0f, 0.0f }; //!< complex LoS gain (H = gain on every bin for one tap)
    double delay = 0.0;            //!< samples from the frame start, in [-K/2, K/2)
    double snr_db = 0.0;           //!< |gain|^2 over the noise variance of one CIR value
    double noise_var = 0.0;        //!< noise variance of one CIR value
    bool valid = false;            //!< false when nothing met the picking rule
};

enum class los_pick { strongest = 0, first = 1, predicted = 2 };

ARRAYCAL_API los_pick los_pick_from_string(const std::string& s);

/*!
 * \brief Channel impulse response and line-of-sight tap from a frequency response.
 *
 * The CIR is c(t) = 1/K' sum_k H[k] exp(j 2 pi f_k t) over the K' = 2*floor((K-1)/2)+1
 * bins of the CENTRED grid f_k = k/K, |k| <= (K-1)/2 (for even K the Nyquist
 * bin is both +fs/2 and -fs/2 and cannot tell which way a fractional delay
 * turns, so it is left out). One path then gives c(t) = a * D(t - t0) with a
 * real, symmetric kernel D(0) = 1: the phase of c is the path's phase for
 * any fractional delay, so the LoS gain is unbiased in phase, and exact at
 * t0. (The plain FFT order would add a phase of about pi*(t0 mod 1).)
 *
 * Steps: coarse CIR on a grid of K/M samples by a zero-padded inverse FFT
 * of M = zero_pad * M1 points, M1 the smallest 2,3,5-smooth size >= K
 * (thesis: zero_pad 10), computed as zero_pad inverse FFTs of M1; refine
 * the grid's candidate lobes to the maximum of |c(t)|^2 by safeguarded
 * Halley steps (the single-path ML delay, paper eq. 25) and pick among the
 * refined peaks (strongest; first peak within `window` samples before the
 * strongest and no more than threshold_db below it; or the strongest within
 * +-window of a predicted delay); the gain is c(t_hat). A candidate is every
 * grid local maximum within sinc^2(step/2) (4 dB on a one-sample grid) of
 * the best grid value, as a peak between grid points reads that much low:
 * the strongest peak is found on any grid, and zero_pad 1 gives the
 * estimate of zero_pad 10. 'first' searches a grid of at least half a
 * sample: a weaker path 1-2 samples before a stronger one is often only a
 * flank on a one-sample grid. With APES (set_apes) the delay
 * comes from the Capon spectrum and the gain from forward-backward APES at
 * that delay (CAPES), in a window around the FFT's pick: the adaptive filter
 * nulls a close reflection that leaks into the FFT's gain.
 */
class ARRAYCAL_API cir_los
{
public:
    cir_los(int K,
            int zero_pad = 1,
            los_pick mode = los_pick::strongest,
            double threshold_db = -10.0,
            double window = 8.0);
    ~cir_los();
    cir_los(const cir_los&) = delete;
    cir_los& operator=(const cir_los&) = delete;

    int length() const { return d_k; }
    int grid_size() const { return d_grid.m; }
    double grid_step() const { return d_grid.step; }

    void set_mode(los_pick mode) { d_mode = mode; }
    los_pick mode() const { return d_mode; }
    void set_threshold_db(double t) { d_threshold_db = t; }
    double threshold_db() const { return d_threshold_db; }
    void set_window(double w);
    double window() const { return d_window; }
    /*!
     * Use forward-backward APES of filter length L (0: the FFT path only),
     * as CAPES: the Capon spectrum of the same FB covariance is searched over
     * +-apes_span samples around the FFT's LoS on a grid of apes_step samples
     * (the thesis's x10: 0.1), the LoS is picked among its local maxima by
     * the same rule and refined, and the gain is the APES amplitude there.
     * The thesis used L = 200 and 320; larger L resolves closer paths.
     */
    void set_apes(int filter_len, double apes_span = 1.0, double apes_step = 0.1);
    int apes_len() const;

    //! Coarse CIR, out[m] = c(m K/M) for m < M (m >= M/2 are negative delays).
    void cir(const gr_complex* H, gr_complex* out);
    //! c(t) at any delay t (samples).
    gr_complex evaluate(const gr_complex* H, double t);
    //! The LoS of one channel's response H (K bins, FFT order).
    los_estimate estimate(const gr_complex* H, double predicted_delay = 0.0);

private:
    void load(const gr_complex* H, gr_complex* z = nullptr);
    //! A coarse grid: M = z M1 points, step K/M samples.
    struct grid_spec {
        int z = 1, m = 0;
        double step = 1.0;
        float scallop = 0.0f; // lowest grid reading of a lobe, relative to its peak
        std::vector<gr_complex> ramp; // exp(j 2 pi k r / M), per phase r
    };
    grid_spec make_grid(int z) const;
    //! grid points z p + r into the FFT's output (staged: input already there)
    void coarse_cir_phase(const gr_complex* H, const grid_spec& g, int r, bool staged);

    //! c(t) and its first three derivatives in t
    void eval_taylor(double t, std::complex<double>& c, std::complex<double>& c1,
                     std::complex<double>& c2, std::complex<double>& c3);
    double refine_peak(double t0, double half_width, std::complex<double>& gain);

    //! A refined peak of |c|^2: delay, gain, power, and its grid index.
    struct lobe {
        double t = 0.0;
        std::complex<double> c{ 0.0, 0.0 };
        double p = 0.0;
        int m = 0;
    };
    //! grid candidates refined per frame at most (noise-only frames have many)
    static constexpr size_t MAX_CANDIDATES = 4;

    //! |CIR|^2 on grid g into d_pow, its largest value and where (d_pow's order)
    float coarse_grid(const gr_complex* H, const grid_spec& g, int& peak_at);
    //! mean |CIR|^2 on the grid away from the frame start (unscaled)
    double grid_noise(const grid_spec& g) const;
    float pow_at(const grid_spec& g, int m) const
    {
        return d_pow[static_cast<size_t>(m % g.z) * d_m1 + m / g.z];
    }
    double delay_of(const grid_spec& g, int m) const
    {
        return (m < (g.m + 1) / 2 ? m : m - g.m) * g.step;
    }
    int index_of(const grid_spec& g, double t) const;
    bool is_local_max(const grid_spec& g, int m) const;
    lobe refine_lobe(const grid_spec& g, int m);
    //! the strongest refined lobe among grid candidates (any order, duplicates allowed)
    lobe strongest_of(const grid_spec& g, std::vector<int>& cand);
    // the picking rules on the refined lobes
    lobe pick_strongest(const grid_spec& g, float peak_pow, int peak_at);
    lobe pick_first(const grid_spec& g, const lobe& strongest, double noise_grid);
    lobe pick_predicted(const grid_spec& g, double predicted_delay);

    int d_k, d_kh;
    int d_m1; // FFT length of one grid phase
    bool d_even;
    double d_kc2 = 1.0, d_kc2_inv = 1.0; // K'^2: the grid's unscaled power to |c|^2
    los_pick d_mode;
    double d_threshold_db;
    double d_window;
    std::unique_ptr<gr::fft::fft<gr_complex, false>> d_ifft;
    volk::vector<float> d_pow;        // |coarse CIR|^2, phase by phase
    std::vector<int> d_above, d_candidates;
    grid_spec d_grid;       // zero_pad's grid
    grid_spec d_grid_first; // at least half a sample, for 'first'
    std::vector<gr_complex> d_centred; // H on the centred grid without the Nyquist bin
    // centred response split into re/im and the index weights, for
    // eval_taylor's vectorised lanes
    volk::vector<float> d_cre, d_cim, d_idx, d_idx2, d_idx3;
    std::unique_ptr<capes_search> d_capes; // set_apes
};

} // namespace arraycal
} // namespace gr

#endif
