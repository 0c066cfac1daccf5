/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gnuradio/arraycal/apes.h>
#include <gnuradio/arraycal/cir_los.h>
#include <gnuradio/arraycal/dft.h>
#include <gnuradio/blocks/rotator.h>
#include <gnuradio/fft/fft.h>
#include <volk/volk.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace gr {
namespace arraycal {

using cd = std::complex<double>;

los_pick los_pick_from_string(const std::string& s)
{
    if (s == "strongest")
        return los_pick::strongest;
    if (s == "first")
        return los_pick::first;
    if (s == "predicted")
        return los_pick::predicted;
    throw std::invalid_argument("LoS pick must be strongest, first or predicted, not '" +
                                s + "'");
}

cir_los::cir_los(int K, int zero_pad, los_pick mode, double threshold_db, double window)
    : d_k(K), d_mode(mode), d_threshold_db(threshold_db), d_window(window)
{
    if (K < 4)
        throw std::invalid_argument("cir_los: K must be >= 4");
    if (zero_pad < 1)
        throw std::invalid_argument("cir_los: zero_pad must be >= 1");
    set_window(window);
    d_m = fast_fft_size(zero_pad * K);
    d_even = (K % 2) == 0;
    d_kh = (K - 1) / 2;
    const int kc = 2 * d_kh + 1;
    d_ifft = std::make_unique<gr::fft::fft_complex_rev>(d_m);
    d_grid.resize(d_m);
    d_pow.resize(d_m);
    d_centred.resize(kc);
    d_rot.resize(kc);
    d_idx.resize(kc);
    d_idx2.resize(kc);
    d_ones.assign(kc, 1.0f);
    for (int i = 0; i < kc; ++i) {
        d_idx[i] = static_cast<float>(i - d_kh);
        d_idx2[i] = d_idx[i] * d_idx[i];
    }
}

cir_los::~cir_los() = default;

void cir_los::set_window(double w)
{
    if (!(w > 0.0))
        throw std::invalid_argument("cir_los: window must be > 0 samples");
    d_window = w;
}

void cir_los::set_apes(int filter_len, double apes_span)
{
    if (filter_len <= 0) {
        d_apes.reset();
        d_apes_len = 0;
        return;
    }
    if (!(apes_span > 0.0))
        throw std::invalid_argument("cir_los: apes_span must be > 0");
    d_apes = std::make_unique<apes>(2 * d_kh + 1, filter_len);
    d_apes_len = filter_len;
    d_apes_span = apes_span;
}

void cir_los::load(const gr_complex* H)
{
    const int kc = 2 * d_kh + 1;
    for (int i = 0; i < kc; ++i) {
        const int k = ((i - d_kh) % d_k + d_k) % d_k;
        d_centred[i] = H[k];
    }
}

void cir_los::cir(const gr_complex* H, gr_complex* out)
{
    // bins -kh..kh only: for even K the Nyquist bin is +fs/2 and -fs/2 at
    // once, so it cannot say which way a fractional delay turns; leaving it
    // out keeps c(t0) = a exact for one path
    gr_complex* z = d_ifft->get_inbuf();
    std::fill(z, z + d_m, gr_complex(0, 0));
    for (int n = 0; n <= d_kh; ++n)
        z[n] = H[n];
    for (int m = 1; m <= d_kh; ++m)
        z[d_m - m] = H[d_k - m];
    d_ifft->execute();
    const float scale = 1.0f / (2 * d_kh + 1);
    const gr_complex* r = d_ifft->get_outbuf();
    for (int m = 0; m < d_m; ++m)
        out[m] = r[m] * scale;
}

void cir_los::eval3(double t, cd& c, cd& c1, cd& c2)
{
    // r_i = G_i exp(j 2 pi (i - kh) t / K), then three weighted sums
    const int kc = 2 * d_kh + 1;
    const double w = 2.0 * M_PI * t / d_k;
    gr::blocks::rotator rot;
    rot.set_phase(gr_complex(std::cos(-w * d_kh), std::sin(-w * d_kh)));
    rot.set_phase_incr(gr_complex(std::cos(w), std::sin(w)));
    rot.rotateN(d_rot.data(), d_centred.data(), kc);
    gr_complex s0, s1, s2;
    volk_32fc_32f_dot_prod_32fc(&s0, d_rot.data(), d_ones.data(), kc);
    volk_32fc_32f_dot_prod_32fc(&s1, d_rot.data(), d_idx.data(), kc);
    volk_32fc_32f_dot_prod_32fc(&s2, d_rot.data(), d_idx2.data(), kc);
    const double k = 2.0 * M_PI / d_k;
    c = cd(s0.real(), s0.imag()) / static_cast<double>(kc);
    c1 = cd(0, k) * cd(s1.real(), s1.imag()) / static_cast<double>(kc);
    c2 = -(k * k) * cd(s2.real(), s2.imag()) / static_cast<double>(kc);
}

gr_complex cir_los::evaluate(const gr_complex* H, double t)
{
    load(H);
    cd c, c1, c2;
    eval3(t, c, c1, c2);
    return gr_complex(static_cast<float>(c.real()), static_cast<float>(c.imag()));
}

double cir_los::refine_newton(double t0, double half_width)
{
    // maximise P(t) = |c(t)|^2 in [t0-hw, t0+hw]: Newton on P' kept inside a
    // shrinking bracket, bisection where Newton would leave it
    double lo = t0 - half_width, hi = t0 + half_width, t = t0;
    for (int it = 0; it < 20; ++it) {
        cd c, c1, c2;
        eval3(t, c, c1, c2);
        const double g = 2.0 * (std::conj(c) * c1).real();
        const double h = 2.0 * (std::norm(c1) + (std::conj(c) * c2).real());
        if (g > 0)
            lo = t;
        else
            hi = t;
        double tn = h < 0 ? t - g / h : 0.5 * (lo + hi);
        if (!(tn > lo && tn < hi))
            tn = 0.5 * (lo + hi);
        const bool done = std::abs(tn - t) < 1e-7;
        t = tn;
        if (done || hi - lo < 1e-9)
            break;
    }
    return t;
}

static double wrap_delay(double t, int K)
{
    // into [-K/2, K/2)
    double r = std::fmod(t + 0.5 * K, static_cast<double>(K));
    if (r < 0)
        r += K;
    return r - 0.5 * K;
}

los_estimate cir_los::estimate(const gr_complex* H, double predicted_delay)
{
    los_estimate est;
    load(H);
    cir(H, d_grid.data());
    volk_32fc_magnitude_squared_32f(d_pow.data(), d_grid.data(), d_m);

    const double step = grid_step();
    auto delay_of = [&](int m) { return (m < (d_m + 1) / 2 ? m : m - d_m) * step; };
    auto index_of = [&](double t) {
        long m = std::lround(t / step);
        return static_cast<int>(((m % d_m) + d_m) % d_m);
    };

    // noise: CIR far from the frame start (|delay| >= K/4), where the sync
    // put the strongest path near 0
    double noise = 0.0;
    int nn = 0;
    for (int m = 0; m < d_m; ++m) {
        if (std::abs(delay_of(m)) >= 0.25 * d_k) {
            noise += d_pow[m];
            ++nn;
        }
    }
    noise = nn > 0 ? noise / nn : 0.0;

    int best = 0;
    if (d_mode == los_pick::predicted) {
        const int w = std::max(1, static_cast<int>(std::ceil(d_window / step)));
        const int c = index_of(predicted_delay);
        best = c;
        for (int j = -w; j <= w; ++j) {
            const int m = ((c + j) % d_m + d_m) % d_m;
            if (d_pow[m] > d_pow[best])
                best = m;
        }
    } else {
        best = static_cast<int>(std::max_element(d_pow.begin(), d_pow.end()) - d_pow.begin());
        if (d_mode == los_pick::first) {
            const double thr = d_pow[best] * std::pow(10.0, d_threshold_db / 10.0);
            const int w = std::max(1, static_cast<int>(std::ceil(d_window / step)));
            for (int j = -w; j < 0; ++j) {
                const int m = ((best + j) % d_m + d_m) % d_m;
                const int mp = (m + 1) % d_m, mm = (m - 1 + d_m) % d_m;
                if (d_pow[m] >= thr && d_pow[m] >= d_pow[mm] && d_pow[m] >= d_pow[mp] &&
                    d_pow[m] > 4.0 * noise) {
                    best = m;
                    break;
                }
            }
        }
    }

    const int mp = (best + 1) % d_m, mm = (best - 1 + d_m) % d_m;
    const double t0 = delay_of(best);
    // parabolic start inside the bracket, then the ML delay by Newton
    double off = 0.0;
    const double den = d_pow[mm] - 2.0 * d_pow[best] + d_pow[mp];
    if (den < 0)
        off = std::max(-0.5, std::min(0.5, 0.5 * (d_pow[mm] - d_pow[mp]) / den));
    double t = refine_newton(t0 + off * step, step);
    t = std::max(t0 - step, std::min(t0 + step, t));
    cd c, c1, c2;
    eval3(t, c, c1, c2);

    if (d_apes) {
        // APES amplitude of the centred response x[i] = a e^{j2pi kh t/K} e^{-j2pi i t/K}
        d_apes->fit(d_centred.data());
        auto amp = [&](double tau) {
            const cd a = d_apes->amplitude(-2.0 * M_PI * tau / d_k);
            return a * std::polar(1.0, -2.0 * M_PI * d_kh * tau / d_k);
        };
        const int ngrid = 8;
        const double span = d_apes_span;
        double bt = t, bp = -1.0;
        for (int j = 0; j <= ngrid; ++j) {
            const double tau = t - span + 2.0 * span * j / ngrid;
            const double p = std::norm(amp(tau));
            if (p > bp) {
                bp = p;
                bt = tau;
            }
        }
        // golden-section search for the APES peak in the grid cell
        const double gr = 0.5 * (std::sqrt(5.0) - 1.0);
        double a = bt - 2.0 * span / ngrid, b = bt + 2.0 * span / ngrid;
        double x1 = b - gr * (b - a), x2 = a + gr * (b - a);
        double f1 = std::norm(amp(x1)), f2 = std::norm(amp(x2));
        while (b - a > 1e-3) {
            if (f1 < f2) {
                a = x1;
                x1 = x2;
                f1 = f2;
                x2 = a + gr * (b - a);
                f2 = std::norm(amp(x2));
            } else {
                b = x2;
                x2 = x1;
                f2 = f1;
                x1 = b - gr * (b - a);
                f1 = std::norm(amp(x1));
            }
        }
        t = 0.5 * (a + b);
        c = amp(t);
    }

    est.gain = gr_complex(static_cast<float>(c.real()), static_cast<float>(c.imag()));
    est.delay = wrap_delay(t, d_k);
    est.noise_var = noise;
    est.snr_db = noise > 0 ? 10.0 * std::log10(std::norm(c) / noise) : INFINITY;
    est.valid = d_pow[best] > 4.0 * noise;
    return est;
}

} // namespace arraycal
} // namespace gr
