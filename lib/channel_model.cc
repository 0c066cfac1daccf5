/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gnuradio/arraycal/channel_model.h>
#include <gnuradio/arraycal/dft.h>
#include <gnuradio/xoroshiro128p.h>
#include <cmath>
#include <complex>
#include <cstring>
#include <stdexcept>

namespace gr {
namespace arraycal {

namespace {
constexpr int SEGMENT = 32; // samples between the phase-noise walk's knots
constexpr double ZIG_R = 3.442619855899; // the ziggurat's base strip edge
constexpr double TWO_PI = 6.283185307179586476925286766559;
} // namespace

channel_model::channel_model(int packet_len,
                             const std::vector<int>& element_channel,
                             int num_channels,
                             int num_paths,
                             double cfo,
                             double phase_noise,
                             float noise_sigma,
                             uint64_t seed)
    : d_k(packet_len),
      d_nch(num_channels),
      d_np(num_paths),
      d_elem_chan(element_channel),
      d_w0(cfo),
      d_pn(phase_noise),
      d_sigma(noise_sigma)
{
    if (d_k < 2)
        throw std::invalid_argument("channel_model: packet_len must be at least 2");
    if (d_np < 1)
        throw std::invalid_argument("channel_model: num_paths must be at least 1");
    if (d_elem_chan.empty())
        throw std::invalid_argument("channel_model: no elements");
    for (int c : d_elem_chan)
        if (c < 0 || c >= d_nch)
            throw std::invalid_argument("channel_model: an element's channel is outside "
                                        "0..num_channels-1");
    if (!(d_pn >= 0.0) || !(d_sigma >= 0.0f))
        throw std::invalid_argument("channel_model: negative noise");
    xoroshiro128p_seed(d_rng, seed);
    make_tables();
    d_fwd = std::make_unique<dft>(d_k, true);
    d_inv = std::make_unique<dft>(d_k, false);
    d_x_prev.resize(d_k);
    d_spec.resize(d_k);
    d_h.resize(d_k);
    d_hd.resize(d_k);
    d_y.resize(d_k);
    d_acc.resize(static_cast<size_t>(d_nch) * d_k);
    d_lo.resize(d_k);
}

channel_model::~channel_model() = default;

void channel_model::make_tables()
{
    // Marsaglia and Tsang's ziggurat (J. Stat. Softw. 5(8), 2000), 128 layers of
    // equal area under exp(-x^2/2): one draw, one lookup and one compare for 98.8 %
    // of the samples, exact Gaussian tails through the base strip's fallback
    const double m1 = 2147483648.0; // 2^31
    double dn = ZIG_R, tn = dn;
    const double vn = 9.91256303526217e-3; // each layer's area
    const double q = vn / std::exp(-0.5 * dn * dn);
    d_kn[0] = static_cast<uint32_t>((dn / q) * m1);
    d_kn[1] = 0;
    d_wn[0] = static_cast<float>(q / m1);
    d_wn[127] = static_cast<float>(dn / m1);
    d_fn[0] = 1.0f;
    d_fn[127] = static_cast<float>(std::exp(-0.5 * dn * dn));
    for (int i = 126; i >= 1; --i) {
        dn = std::sqrt(-2.0 * std::log(vn / dn + std::exp(-0.5 * dn * dn)));
        d_kn[i + 1] = static_cast<uint32_t>((dn / tn) * m1);
        tn = dn;
        d_fn[i] = static_cast<float>(std::exp(-0.5 * dn * dn));
        d_wn[i] = static_cast<float>(dn / m1);
    }
}

float channel_model::uniform()
{
    // (0, 1]: 24 random bits, never 0 (a logarithm follows)
    return (static_cast<float>(xoroshiro128p_next(d_rng) >> 40) + 1.0f) * 5.9604644775390625e-8f;
}

float channel_model::gaussian()
{
    for (;;) {
        // separate bits for the layer and for the signed abscissa
        const uint64_t r = xoroshiro128p_next(d_rng);
        const int32_t hz = static_cast<int32_t>(r >> 32);
        const int iz = static_cast<int>(r & 127u);
        const uint32_t ahz = hz < 0 ? static_cast<uint32_t>(-static_cast<int64_t>(hz))
                                    : static_cast<uint32_t>(hz);
        const float x = hz * d_wn[iz];
        if (ahz < d_kn[iz])
            return x; // inside the layer's rectangle
        if (iz == 0) {
            // the tail beyond R (Marsaglia's exponential rejection)
            float t, y;
            do {
                t = -std::log(uniform()) / static_cast<float>(ZIG_R);
                y = -std::log(uniform());
            } while (y + y < t * t);
            return hz > 0 ? static_cast<float>(ZIG_R) + t : -static_cast<float>(ZIG_R) - t;
        }
        // the wedge: accept under the curve
        if (d_fn[iz] + uniform() * (d_fn[iz - 1] - d_fn[iz]) < std::exp(-0.5f * x * x))
            return x;
    }
}

double channel_model::walk_step()
{
    // the walk's change over one segment: N(0, pn^2 SEGMENT); none without phase noise
    return d_pn > 0.0 ? gaussian() * d_pn * std::sqrt(static_cast<double>(SEGMENT)) : 0.0;
}

void channel_model::next_segment()
{
    d_knot += d_step;
    d_seg++;
    d_step = walk_step();
}

void channel_model::process(const gr_complex* x,
                            int num_packets,
                            const gr_complex* gains,
                            const double* delays,
                            uint64_t start,
                            const std::vector<gr_complex*>& out)
{
    if (static_cast<int>(out.size()) != d_nch)
        throw std::invalid_argument("channel_model: one output per channel");
    const int K = d_k, N = num_elements(), P = d_np;
    if (!d_started || start != d_next) {
        // a new run (or a jump): the walk goes on from where it was, from here
        d_started = true;
        d_seg = start / SEGMENT;
        d_step = walk_step();
        // the knot sits at the segment's start: step back by the part before start
        d_knot = d_walk - d_step * static_cast<double>(start % SEGMENT) / SEGMENT;
    }
    const int half = K / 2;
    const bool even = (K % 2) == 0;
    for (int b = 0; b < num_packets; ++b) {
        const gr_complex* xb = x + static_cast<size_t>(b) * K;
        const uint64_t s0 = start + static_cast<uint64_t>(b) * K;
        // a packet source repeats one packet: its spectrum is computed once
        if (!d_have_spec || std::memcmp(xb, d_x_prev.data(), sizeof(gr_complex) * K) != 0) {
            std::memcpy(d_x_prev.data(), xb, sizeof(gr_complex) * K);
            d_fwd->execute(xb, d_spec.data());
            const float inv = 1.0f / K;
            for (int i = 0; i < K; ++i)
                d_spec[i] *= inv;
            // the inverse DFT weights its input by X / K: y = IDFT(H X) / K
            d_inv->set_input_weights(d_spec.data());
            d_have_spec = true;
        }
        std::fill(d_acc.begin(), d_acc.end(), gr_complex(0.0f, 0.0f));
        for (int k = 0; k < N; ++k) {
            std::vector<std::complex<double>>& H = d_hd;
            std::fill(H.begin(), H.end(), std::complex<double>(0.0));
            for (int p = 0; p < P; ++p) {
                const size_t i = (static_cast<size_t>(b) * N + k) * P + p;
                const std::complex<double> g(gains[i]);
                const double tau = delays[i];
                // exp(-j 2 pi f tau) on f = m / K by recurrence (double: no drift
                // over K/2 steps); the negative bins are its conjugate
                const std::complex<double> r = std::polar(1.0, -TWO_PI * tau / K);
                std::complex<double> w = 1.0;
                H[0] += g;
                for (int m = 1; m < (even ? half : half + 1); ++m) {
                    w *= r;
                    H[m] += g * w;
                    H[K - m] += g * std::conj(w);
                }
                if (even)
                    H[half] += g * std::cos(TWO_PI / 2 * tau);
            }
            for (int m = 0; m < K; ++m)
                d_h[m] = gr_complex(static_cast<float>(H[m].real()),
                                    static_cast<float>(H[m].imag()));
            d_inv->execute(d_h.data(), d_y.data());
            gr_complex* acc = d_acc.data() + static_cast<size_t>(d_elem_chan[k]) * K;
            for (int m = 0; m < K; ++m)
                acc[m] += d_y[m];
        }
        // the common LO, one 32-sample segment (or part of one) at a time
        int i = 0;
        while (i < K) {
            const uint64_t s = s0 + i;
            while (s / SEGMENT > d_seg)
                next_segment();
            const int u0 = static_cast<int>(s % SEGMENT);
            const int len = std::min(SEGMENT - u0, K - i);
            const double walk = d_knot + d_step * u0 / SEGMENT;
            const double ph = std::fmod(d_w0 * static_cast<double>(s), TWO_PI) + walk;
            std::complex<double> z = std::polar(1.0, ph);
            const std::complex<double> rot = std::polar(1.0, d_w0 + d_step / SEGMENT);
            for (int j = 0; j < len; ++j) {
                d_lo[i + j] = gr_complex(static_cast<float>(z.real()),
                                         static_cast<float>(z.imag()));
                z *= rot;
            }
            i += len;
            d_walk = d_knot + d_step * (u0 + len) / SEGMENT;
        }
        for (int c = 0; c < d_nch; ++c) {
            gr_complex* o = out[c] + static_cast<size_t>(b) * K;
            const gr_complex* acc = d_acc.data() + static_cast<size_t>(c) * K;
            if (d_sigma == 0.0f) {
                for (int m = 0; m < K; ++m)
                    o[m] = acc[m] * d_lo[m];
                continue;
            }
            float* nz = reinterpret_cast<float*>(d_y.data()); // free here: 2K floats
            for (int m = 0; m < 2 * K; ++m)
                nz[m] = gaussian();
            const float sg = d_sigma;
#pragma omp simd
            for (int m = 0; m < K; ++m)
                o[m] = acc[m] * d_lo[m] + gr_complex(sg * nz[2 * m], sg * nz[2 * m + 1]);
        }
    }
    d_next = start + static_cast<uint64_t>(num_packets) * K;
}

} // namespace arraycal
} // namespace gr
