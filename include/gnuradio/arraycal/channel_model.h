/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_CHANNEL_MODEL_H
#define INCLUDED_ARRAYCAL_CHANNEL_MODEL_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/gr_complex.h>
#include <complex>
#include <cstdint>
#include <memory>
#include <vector>

namespace gr {
namespace arraycal {

class dft;

/*!
 * \brief The sample work of the channel emulator: packet-long blocks seen by
 * the elements of an array over paths of given gain and delay, the array's
 * common local oscillator, and AWGN.
 *
 * For packet b, element k and path p the caller gives a complex gain
 * g[b][k][p] and a delay tau[b][k][p] in samples. Element k's signal is
 *   y_k = IDFT( DFT(x_b) * sum_p g exp(-j 2 pi f tau) ),
 * the delay applied on the centred DFT grid f = k/K, |k| <= K/2 (exact for
 * back-to-back packets, whose stream is periodic; for even K the Nyquist bin
 * takes the real cos(pi tau), a symmetric band). Elements on the same
 * receiver channel add up. Each channel is then multiplied by the common LO,
 *   exp(j (w0 n + phi(n))),
 * n the absolute sample index, w0 the carrier offset (rad/sample) and phi a
 * Gaussian random walk of phase_noise rad per sqrt(sample), drawn every 32
 * samples and interpolated linearly (its per-sample steps are far below what
 * a receiver resolves), and complex white Gaussian noise of variance
 * 2 noise_sigma^2 is added to each channel independently.
 *
 * The random draws depend only on the seed and the absolute sample index, not
 * on how the samples are split into calls. Not thread safe.
 */
class ARRAYCAL_API channel_model
{
public:
    /*!
     * \param packet_len K, samples per packet.
     * \param element_channel the receiver channel of each element.
     * \param num_channels output channels (>= max channel + 1).
     * \param num_paths paths per element (LoS, reflections...).
     * \param cfo carrier offset w0 in rad/sample.
     * \param phase_noise random-walk std in rad per sqrt(sample).
     * \param noise_sigma std of the real and of the imaginary part of the AWGN.
     * \param seed of the random draws.
     */
    channel_model(int packet_len,
                  const std::vector<int>& element_channel,
                  int num_channels,
                  int num_paths,
                  double cfo,
                  double phase_noise,
                  float noise_sigma,
                  uint64_t seed);
    ~channel_model();
    channel_model(const channel_model&) = delete;
    channel_model& operator=(const channel_model&) = delete;

    int packet_len() const { return d_k; }
    int num_elements() const { return static_cast<int>(d_elem_chan.size()); }
    int num_channels() const { return d_nch; }
    int num_paths() const { return d_np; }
    void set_noise_sigma(float s) { d_sigma = s; }

    /*!
     * num_packets packets of x (num_packets * K samples, x[0] at absolute
     * sample index start) through the channel into out[c] (num_packets * K
     * each). gains and delays: num_packets * num_elements * num_paths values,
     * packet-major then element then path.
     */
    void process(const gr_complex* x,
                 int num_packets,
                 const gr_complex* gains,
                 const double* delays,
                 uint64_t start,
                 const std::vector<gr_complex*>& out);

private:
    double walk_step();
    void next_segment();
    void make_tables();
    float uniform();
    float gaussian();

    int d_k, d_nch, d_np;
    std::vector<int> d_elem_chan;
    double d_w0, d_pn;
    float d_sigma;
    uint64_t d_rng[2];
    uint32_t d_kn[128]; // the ziggurat's tables
    float d_wn[128], d_fn[128];
    std::unique_ptr<dft> d_fwd, d_inv;
    std::vector<gr_complex> d_x_prev, d_spec; // last packet and its DFT / K
    bool d_have_spec = false;
    std::vector<gr_complex> d_h;              // one element's frequency response
    std::vector<std::complex<double>> d_hd;   // ... summed over paths in double
    std::vector<gr_complex> d_acc;            // per channel, one packet
    std::vector<gr_complex> d_y;
    std::vector<gr_complex> d_lo;             // the LO of one packet
    // phase-noise walk: knot value at the current 32-sample segment, its step
    uint64_t d_next = 0;    // absolute index of the next sample expected
    uint64_t d_seg = 0;     // current segment's index
    double d_knot = 0.0, d_step = 0.0, d_walk = 0.0;
    bool d_started = false;
};

} // namespace arraycal
} // namespace gr

#endif
