/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "capes_search.h"
#include "simd.h"
#include <gnuradio/arraycal/cir_los.h>
#include <gnuradio/arraycal/dft.h>
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
    // grid of M = zero_pad * M1 points, M1 the smooth FFT size >= K: phase r
    // of the grid (m = zero_pad p + r) is an M1-point inverse FFT of the
    // spectrum turned by exp(j 2 pi k r / M), so zero_pad FFTs of M1 replace
    // one of M (faster, and cache-resident, for any zero padding)
    d_m1 = fast_fft_size(K);
    d_even = (K % 2) == 0;
    d_kh = (K - 1) / 2;
    const int kc = 2 * d_kh + 1;
    d_ifft = std::make_unique<gr::fft::fft_complex_rev>(d_m1);
    d_grid = make_grid(zero_pad);
    // 'first' looks for a weaker lobe close before the strongest: a grid of
    // one sample often lands on its flank only, half a sample resolves it
    d_grid_first = make_grid(std::max(zero_pad, 2));
    d_pow.resize(d_grid_first.m);
    // the candidate lists' largest sizes: nothing is allocated per frame
    d_above.reserve(d_grid_first.m);
    d_candidates.reserve(d_grid_first.m + 1);
    d_kc2 = static_cast<double>(kc) * kc;
    d_kc2_inv = 1.0 / d_kc2;
    d_centred.resize(kc);
    d_cre.resize(kc);
    d_cim.resize(kc);
    d_idx.resize(kc);
    d_idx2.resize(kc);
    d_idx3.resize(kc);
    for (int i = 0; i < kc; ++i) {
        d_idx[i] = static_cast<float>(i - d_kh);
        d_idx2[i] = d_idx[i] * d_idx[i];
        d_idx3[i] = d_idx2[i] * d_idx[i];
    }
}

cir_los::~cir_los() = default;

cir_los::grid_spec cir_los::make_grid(int z) const
{
    grid_spec g;
    g.z = z;
    g.m = z * d_m1;
    g.step = static_cast<double>(d_k) / g.m;
    // ramps in the FFT input order: k = 0..kh, then k = -kh..-1
    const int kc = 2 * d_kh + 1;
    g.ramp.resize(static_cast<size_t>(z) * kc);
    for (int r = 0; r < z; ++r)
        for (int i = 0; i < kc; ++i) {
            const int k = i <= d_kh ? i : i - kc;
            const double ph = 2.0 * M_PI * static_cast<double>(k) * r / g.m;
            g.ramp[static_cast<size_t>(r) * kc + i] = gr_complex(std::cos(ph), std::sin(ph));
        }
    // a lobe's nearest grid point is within step/2 of its peak and reads at
    // least sinc^2(step/2) of it; 0.9 more for a lobe bent by a neighbour
    const double x = M_PI * 0.5 * g.step;
    g.scallop = static_cast<float>(0.9 * std::pow(std::sin(x) / x, 2));
    return g;
}

void cir_los::set_window(double w)
{
    if (!(w > 0.0))
        throw std::invalid_argument("cir_los: window must be > 0 samples");
    d_window = w;
}

void cir_los::set_apes(int filter_len, double apes_span, double apes_step)
{
    if (filter_len <= 0) {
        d_capes.reset();
        return;
    }
    d_capes = std::make_unique<capes_search>(d_k, filter_len, apes_span, apes_step);
}

int cir_los::apes_len() const { return d_capes ? d_capes->filter_len() : 0; }

void cir_los::load(const gr_complex* H, gr_complex* z)
{
    // centred order: bins -kh..-1 (stored at the end of H), then 0..kh,
    // split into re/im for eval_taylor's lanes; in the same pass (one read
    // of H) the grid's first inverse FFT input when z is given
    const gr_complex* neg = H + d_k - d_kh;
    for (int i = 0; i < d_kh; ++i) {
        d_cre[i] = neg[i].real();
        d_cim[i] = neg[i].imag();
    }
    for (int i = 0; i <= d_kh; ++i) {
        d_cre[d_kh + i] = H[i].real();
        d_cim[d_kh + i] = H[i].imag();
    }
    if (z) {
        std::copy(H, H + d_kh + 1, z);
        std::copy(neg, neg + d_kh, z + d_m1 - d_kh);
        std::fill(z + d_kh + 1, z + d_m1 - d_kh, gr_complex(0, 0));
    }
}

// |c|^2 of n values into pw (VOLK), and the first index of the largest
// (ties: the lower index): vector lanes keep a running maximum and its index
// each (2.5x VOLK 2.5's index_max here)
ARRAYCAL_CLONES
static void power_and_peak(const gr_complex* c, float* __restrict pw, int n, float& vmax,
                           int& imax)
{
    volk_32fc_magnitude_squared_32f(pw, c, n);
    v8f best = v8f{} - 1.0f;
    v8i at = v8i{} - 1;
    v8i idx = { 0, 1, 2, 3, 4, 5, 6, 7 };
    const int full = n / 8 * 8;
    for (int i = 0; i < full; i += 8, idx += 8) {
        const v8f v = V8F_AT(pw + i);
        const v8i gt = v > best;
        best = gt ? v : best;
        at = gt ? idx : at;
    }
    vmax = -1.0f;
    imax = 0;
    for (int l = 0; l < 8; ++l)
        if (at[l] >= 0 && (best[l] > vmax || (best[l] == vmax && at[l] < imax))) {
            vmax = best[l];
            imax = at[l];
        }
    for (int i = full; i < n; ++i)
        if (pw[i] > vmax) {
            vmax = pw[i];
            imax = i;
        }
}

// sum of n floats, eight lanes (a plain loop does not vectorise without
// -ffast-math). Cloned and not inlined: inlined into estimate(), which is
// compiled for the baseline target, the accumulator went through the stack
// on every block (3 % of the chain's time)
ARRAYCAL_CLONES __attribute__((noinline))
static float sum_floats(const float* x, int n)
{
    v8f acc{};
    const int full = n / 8 * 8;
    for (int i = 0; i < full; i += 8)
        acc += V8F_AT(x + i);
    float s = 0.0f;
    for (int l = 0; l < 8; ++l)
        s += acc[l];
    for (int i = full; i < n; ++i)
        s += x[i];
    return s;
}

// indices of the x[i] >= thr, i < n, appended to out: eight lanes compared
// at once (a lane-wise maximum per block, as in power_and_peak), the rare
// hits looked at one by one
ARRAYCAL_CLONES __attribute__((noinline))
static void at_least(const float* x, int n, float thr, std::vector<int>& out)
{
    const int full = n / 8 * 8;
    for (int i = 0; i < full; i += 8) {
        const v8f v = V8F_AT(x + i);
        // largest of the eight lanes by halving
        const v8f h1 = __builtin_shuffle(v, (v8i){ 4, 5, 6, 7, 0, 1, 2, 3 });
        const v8f m1 = v > h1 ? v : h1;
        const v8f h2 = __builtin_shuffle(m1, (v8i){ 2, 3, 0, 1, 6, 7, 4, 5 });
        const v8f m2 = m1 > h2 ? m1 : h2;
        if (!(std::max(m2[0], m2[1]) >= thr))
            continue;
        for (int l = 0; l < 8; ++l)
            if (x[i + l] >= thr)
                out.push_back(i + l);
    }
    for (int i = full; i < n; ++i)
        if (x[i] >= thr)
            out.push_back(i);
}

void cir_los::coarse_cir_phase(const gr_complex* H, const grid_spec& g, int r, bool staged)
{
    // bins -kh..kh only: for even K the Nyquist bin is +fs/2 and -fs/2 at
    // once, so it cannot say which way a fractional delay turns; leaving it
    // out keeps c(t0) = a exact for one path. Unscaled: times K'.
    const int kc = 2 * d_kh + 1;
    gr_complex* z = d_ifft->get_inbuf();
    if (staged) { // load() wrote it
        d_ifft->execute();
        return;
    }
    if (r == 0) {
        std::copy(H, H + d_kh + 1, z);
        std::copy(H + d_k - d_kh, H + d_k, z + d_m1 - d_kh);
    } else {
        const gr_complex* ramp = g.ramp.data() + static_cast<size_t>(r) * kc;
        volk_32fc_x2_multiply_32fc(z, H, ramp, d_kh + 1);
        volk_32fc_x2_multiply_32fc(z + d_m1 - d_kh, H + d_k - d_kh, ramp + d_kh + 1, d_kh);
    }
    std::fill(z + d_kh + 1, z + d_m1 - d_kh, gr_complex(0, 0));
    d_ifft->execute();
}

void cir_los::cir(const gr_complex* H, gr_complex* out)
{
    const float scale = 1.0f / (2 * d_kh + 1);
    const int Z = d_grid.z;
    for (int r = 0; r < Z; ++r) {
        coarse_cir_phase(H, d_grid, r, false);
        const gr_complex* c = d_ifft->get_outbuf();
        for (int p = 0; p < d_m1; ++p)
            out[static_cast<size_t>(p) * Z + r] = c[p] * scale;
    }
}

ARRAYCAL_CLONES
void cir_los::eval_taylor(double t, cd& c, cd& c1, cd& c2, cd& c3)
{
    // S_p = sum_i G_i (i - kh)^p exp(j 2 pi (i - kh) t / K), p = 0..3, in
    // one pass: 8 phasor lanes advanced by exp(j 8 w), renormalised every
    // 16 blocks; the phasors start exact from double precision. GCC vector
    // types keep the ten accumulators in registers (arrays of lanes were
    // spilled to the stack, a store-load round trip per block); they lower
    // to AVX or NEON alike, no intrinsics.
    const int kc = 2 * d_kh + 1;
    constexpr int LANES = 8;
    const double w = 2.0 * M_PI * t / d_k;
    v8f pr, pi;
    {
        const cd step = std::polar(1.0, w);
        cd ph = std::polar(1.0, -w * d_kh);
        for (int l = 0; l < LANES; ++l) {
            pr[l] = static_cast<float>(ph.real());
            pi[l] = static_cast<float>(ph.imag());
            ph *= step;
        }
    }
    const v8f sr = v8f{} + static_cast<float>(std::cos(w * LANES));
    const v8f si = v8f{} + static_cast<float>(std::sin(w * LANES));
    v8f a0r{}, a0i{}, a1r{}, a1i{}, a2r{}, a2i{}, a3r{}, a3i{};
    const float* gr = d_cre.data();
    const float* gi = d_cim.data();
    const float* k1 = d_idx.data();
    const float* k2 = d_idx2.data();
    const float* k3 = d_idx3.data();
    const int nblk = kc / LANES;
    for (int b = 0; b < nblk; ++b) {
        const int o = b * LANES;
        const v8f xr = V8F_AT(gr + o), xi = V8F_AT(gi + o);
        const v8f rr = xr * pr - xi * pi;
        const v8f ri = xr * pi + xi * pr;
        a0r += rr;
        a0i += ri;
        const v8f q1 = V8F_AT(k1 + o), q2 = V8F_AT(k2 + o),
                  q3 = V8F_AT(k3 + o);
        a1r += rr * q1;
        a1i += ri * q1;
        a2r += rr * q2;
        a2i += ri * q2;
        a3r += rr * q3;
        a3i += ri * q3;
        const v8f nr = pr * sr - pi * si;
        pi = pr * si + pi * sr;
        pr = nr;
        if ((b & 15) == 15) {
            // |p| drifts by ~1e-7 per block: one Newton step of 1/sqrt
            // around 1 brings it back to float precision
            const v8f m = 1.5f - 0.5f * (pr * pr + pi * pi);
            pr *= m;
            pi *= m;
        }
    }
    cd s0(0, 0), s1(0, 0), s2(0, 0), s3(0, 0);
    for (int l = 0; l < LANES; ++l) {
        s0 += cd(a0r[l], a0i[l]);
        s1 += cd(a1r[l], a1i[l]);
        s2 += cd(a2r[l], a2i[l]);
        s3 += cd(a3r[l], a3i[l]);
    }
    for (int i = nblk * LANES; i < kc; ++i) {
        const cd r = cd(gr[i], gi[i]) * std::polar(1.0, w * (i - d_kh));
        s0 += r;
        s1 += r * static_cast<double>(k1[i]);
        s2 += r * static_cast<double>(k2[i]);
        s3 += r * static_cast<double>(k3[i]);
    }
    const double k = 2.0 * M_PI / d_k;
    const double inv = 1.0 / static_cast<double>(kc);
    c = s0 * inv;
    c1 = cd(0, k) * s1 * inv;
    c2 = -(k * k) * s2 * inv;
    c3 = cd(0, -k * k * k) * s3 * inv;
}

gr_complex cir_los::evaluate(const gr_complex* H, double t)
{
    load(H);
    cd c, c1, c2, c3;
    eval_taylor(t, c, c1, c2, c3);
    return gr_complex(static_cast<float>(c.real()), static_cast<float>(c.imag()));
}

double cir_los::refine_peak(double t0, double half_width, cd& gain)
{
    // Maximise P(t) = |c(t)|^2 in [t0-hw, t0+hw]: Halley's step on P' (its
    // first and second derivatives come from the same pass as P') kept inside
    // a shrinking bracket, Newton's where Halley's denominator turns,
    // bisection where either would leave the bracket. Halley converges
    // cubically: after a step below 0.05 samples the new delay is within
    // ~1e-5 samples of the optimum, and the gain there follows from the same
    // evaluation by a third-order Taylor step (relative error about
    // (pi step)^4 / 24 < 3e-5). From the coarse grid's interpolated start
    // this is one evaluation per frame.
    double lo = t0 - half_width, hi = t0 + half_width, t = t0;
    cd c, c1, c2, c3;
    for (int it = 0; it < 20; ++it) {
        eval_taylor(t, c, c1, c2, c3);
        const double g = 2.0 * (std::conj(c) * c1).real();
        const double h = 2.0 * (std::norm(c1) + (std::conj(c) * c2).real());
        const double g2 =
            2.0 * (3.0 * (std::conj(c1) * c2).real() + (std::conj(c) * c3).real());
        if (g > 0)
            lo = t;
        else
            hi = t;
        double tn = 0.5 * (lo + hi);
        if (h < 0) {
            const double den = 2.0 * h * h - g * g2;
            tn = den > 0 ? t - 2.0 * g * h / den : t - g / h;
        }
        if (!(tn > lo && tn < hi))
            tn = 0.5 * (lo + hi);
        const double s = tn - t;
        if (std::abs(s) < 5e-2 || hi - lo < 1e-6) {
            gain = c + s * (c1 + s * (0.5 * c2 + s * (c3 / 6.0)));
            return tn;
        }
        t = tn;
    }
    eval_taylor(t, c, c1, c2, c3);
    gain = c;
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

float cir_los::coarse_grid(const gr_complex* H, const grid_spec& g, int& peak_at)
{
    // |CIR|^2 on the grid, unscaled (times K'^2): only ratios are taken of it,
    // and the noise figure is scaled. Stored phase by phase: grid point
    // m = Z p + r is d_pow[r M1 + p] (pow_at); peak_at is in that order.
    float peak_pow = -1.0f;
    peak_at = 0;
    for (int r = 0; r < g.z; ++r) {
        coarse_cir_phase(H, g, r, r == 0);
        float v;
        int i;
        power_and_peak(
            d_ifft->get_outbuf(), d_pow.data() + static_cast<size_t>(r) * d_m1, d_m1, v, i);
        if (v > peak_pow) { // ties: the earlier phase, as one scan of d_pow
            peak_pow = v;
            peak_at = r * d_m1 + i;
        }
    }
    return peak_pow;
}

double cir_los::grid_noise(const grid_spec& g) const
{
    // CIR far from the frame start (|delay| >= K/4), where the sync put the
    // strongest path near 0: grid indices [ceil(M/4), floor(3M/4)]
    const int Z = g.z, M = g.m;
    const int n_lo = (M + 3) / 4, n_hi = (3 * M) / 4;
    float noise_sum = 0.0f;
    for (int r = 0; r < Z; ++r) {
        // p with n_lo <= Z p + r <= n_hi
        const int p0 = (n_lo - r + Z - 1) / Z, p1 = (n_hi - r) / Z;
        if (p1 < p0)
            continue;
        noise_sum += sum_floats(d_pow.data() + static_cast<size_t>(r) * d_m1 + p0, p1 - p0 + 1);
    }
    return static_cast<double>(noise_sum) / (n_hi - n_lo + 1);
}

int cir_los::index_of(const grid_spec& g, double t) const
{
    const long m = std::lround(t / g.step);
    return static_cast<int>(((m % g.m) + g.m) % g.m);
}

bool cir_los::is_local_max(const grid_spec& g, int m) const
{
    const float v = pow_at(g, m);
    return v >= pow_at(g, (m + g.m - 1) % g.m) && v >= pow_at(g, (m + 1) % g.m);
}

cir_los::lobe cir_los::refine_lobe(const grid_spec& g, int m)
{
    const int M = g.m;
    const double step = g.step;
    const int mp = (m + 1) % M, mm = (m - 1 + M) % M;
    const double t0 = delay_of(g, m);
    // start: on a grid of ~1 sample |c| is a sinc and
    // |c(t0+s)|/(|c(t0)|+|c(t0+s)|) is the offset exactly; on finer grids a
    // parabola through |c|^2 is good
    double off = 0.0;
    if (step > 0.5) {
        const double a = std::sqrt(pow_at(g, mm)), b = std::sqrt(pow_at(g, m)),
                     cc = std::sqrt(pow_at(g, mp));
        off = cc >= a ? cc / (b + cc) : -a / (a + b);
    } else {
        const double den = pow_at(g, mm) - 2.0 * pow_at(g, m) + pow_at(g, mp);
        if (den < 0)
            off = 0.5 * (pow_at(g, mm) - pow_at(g, mp)) / den;
    }
    off = std::max(-0.9, std::min(0.9, off));
    lobe l;
    l.m = m;
    l.t = refine_peak(t0 + off * step, step, l.c);
    l.t = std::max(t0 - step, std::min(t0 + step, l.t));
    l.p = std::norm(l.c);
    return l;
}

cir_los::lobe cir_los::strongest_of(const grid_spec& g, std::vector<int>& cand)
{
    // The MAX_CANDIDATES highest are refined, highest first, until no other
    // can reach the best refined peak: a lobe's nearest grid point can lie up
    // to half a step from its peak, where it reads lower by up to
    // sinc^2(step/2) (4 dB on a grid of one sample), so every grid local
    // maximum within that margin of the best grid value may hold the
    // strongest peak. Usually there is one.
    std::sort(cand.begin(), cand.end(), [&](int a, int b) {
        return pow_at(g, a) > pow_at(g, b) || (pow_at(g, a) == pow_at(g, b) && a < b);
    });
    cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
    lobe best = refine_lobe(g, cand[0]);
    const size_t n = std::min<size_t>(cand.size(), MAX_CANDIDATES);
    for (size_t i = 1; i < n; ++i) {
        if (pow_at(g, cand[i]) * d_kc2_inv <= best.p * g.scallop)
            break; // sorted: no later candidate can win either
        const lobe l = refine_lobe(g, cand[i]);
        if (l.p > best.p)
            best = l;
    }
    return best;
}

cir_los::lobe cir_los::pick_predicted(const grid_spec& g, double predicted_delay)
{
    // the strongest within +-window of the predicted delay
    const int M = g.m;
    const int w = std::max(1, static_cast<int>(std::ceil(d_window / g.step)));
    const int c = index_of(g, predicted_delay);
    int top = c;
    for (int j = -w; j <= w; ++j) {
        const int m = ((c + j) % M + M) % M;
        if (pow_at(g, m) > pow_at(g, top))
            top = m;
    }
    auto& cand = d_candidates;
    cand.clear();
    cand.push_back(top);
    const float thr = pow_at(g, top) * g.scallop;
    for (int j = -w; j <= w; ++j) {
        const int m = ((c + j) % M + M) % M;
        if (pow_at(g, m) >= thr && is_local_max(g, m))
            cand.push_back(m);
    }
    return strongest_of(g, cand);
}

cir_los::lobe cir_los::pick_strongest(const grid_spec& g, float peak_pow, int peak_at)
{
    auto& cand = d_candidates;
    cand.clear();
    cand.push_back((peak_at % d_m1) * g.z + peak_at / d_m1);
    d_above.clear();
    at_least(d_pow.data(), g.m, peak_pow * g.scallop, d_above);
    for (int i : d_above) {
        const int m = (i % d_m1) * g.z + i / d_m1; // d_pow is phase by phase
        if (is_local_max(g, m))
            cand.push_back(m);
    }
    return strongest_of(g, cand);
}

cir_los::lobe cir_los::pick_first(const grid_spec& g, const lobe& strongest, double noise_grid)
{
    // the earliest lobe within `window` samples before the strongest that is
    // no more than threshold_db below it (and clear of the noise), judged on
    // its refined peak
    const int M = g.m;
    const double thr = strongest.p * std::pow(10.0, d_threshold_db / 10.0);
    const int w = std::max(1, static_cast<int>(std::ceil(d_window / g.step)));
    const int at = index_of(g, strongest.t);
    for (int j = -w; j < 0; ++j) {
        const int m = ((at + j) % M + M) % M;
        if (!(pow_at(g, m) * d_kc2_inv >= thr * g.scallop && pow_at(g, m) > 4.0 * noise_grid &&
              is_local_max(g, m)))
            continue;
        const lobe l = refine_lobe(g, m);
        if (l.p >= thr && l.t < strongest.t - 0.5 * g.step)
            return l;
    }
    return strongest;
}

los_estimate cir_los::estimate(const gr_complex* H, double predicted_delay)
{
    load(H, d_ifft->get_inbuf());
    const grid_spec& g = d_mode == los_pick::first ? d_grid_first : d_grid;
    int peak_at;
    const float peak_pow = coarse_grid(H, g, peak_at);
    const double noise_grid = grid_noise(g);
    const double noise = noise_grid / d_kc2;

    lobe best;
    if (d_mode == los_pick::predicted)
        best = pick_predicted(g, predicted_delay);
    else {
        best = pick_strongest(g, peak_pow, peak_at);
        if (d_mode == los_pick::first)
            best = pick_first(g, best, noise_grid);
    }
    std::complex<double> c = best.c;
    double t = best.t;
    if (d_capes) {
        // the centred response, without the Nyquist bin
        std::copy(H + d_k - d_kh, H + d_k, d_centred.begin());
        std::copy(H, H + d_kh + 1, d_centred.begin() + d_kh);
        const capes_search::result r =
            d_capes->search(d_centred.data(), t, d_mode, d_threshold_db, predicted_delay);
        t = r.delay;
        c = r.gain;
    }

    los_estimate est;
    est.gain = gr_complex(static_cast<float>(c.real()), static_cast<float>(c.imag()));
    est.delay = wrap_delay(t, d_k);
    est.noise_var = noise;
    est.snr_db = noise > 0 ? 10.0 * std::log10(std::norm(c) / noise) : INFINITY;
    est.valid = best.p * d_kc2 > 4.0 * noise_grid;
    return est;
}

} // namespace arraycal
} // namespace gr
