/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "capes_search.h"
#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace gr {
namespace arraycal {

static double checked_step(double span, double step, int filter_len)
{
    if (!(span > 0.0) || !(step > 0.0) || step > span)
        throw std::invalid_argument("cir_los: need 0 < apes_step <= apes_span");
    return std::min(step, 32.0 / filter_len);
}

capes_search::capes_search(int K, int filter_len, double span, double step)
    : d_k(K),
      d_kh((K - 1) / 2),
      d_l(filter_len),
      d_step(checked_step(span, step, filter_len)),
      d_half(std::max(1, static_cast<int>(std::lround(span / d_step)))),
      d_apes(2 * d_kh + 1, filter_len),
      d_w(2 * d_half + 1),
      d_p(2 * d_half + 1)
{
    d_peaks.reserve(d_w.size());
}

capes_search::peak capes_search::refine(double t)
{
    // At high SNR and large L the peaks are narrower than the grid and the
    // grid values of a peak's flank say little about its height: one batched
    // evaluation over +-1 grid step, then a parabola through log Capon at the
    // best three (Capon peaks are Lorentzian-like).
    const double h = 2.0 * d_step / (SUB - 1);
    for (int i = 0; i < SUB; ++i)
        d_sw[i] = -2.0 * M_PI * (t - d_step + i * h) / d_k;
    d_apes.capon(d_sw, SUB, d_sp);
    const int ib = static_cast<int>(std::max_element(d_sp, d_sp + SUB) - d_sp);
    peak p{ t - d_step + ib * h, d_sp[ib] };
    if (ib > 0 && ib + 1 < SUB) {
        const double lm = std::log(d_sp[ib - 1]), l0 = std::log(d_sp[ib]),
                     lp = std::log(d_sp[ib + 1]);
        const double den = lm - 2.0 * l0 + lp;
        if (den < 0) {
            const double off = std::max(-0.5, std::min(0.5, 0.5 * (lm - lp) / den));
            p.delay += off * h;
            p.power = std::exp(l0 - 0.25 * (lm - lp) * off);
        }
    }
    return p;
}

capes_search::result capes_search::search(const gr_complex* centred,
                                          double guess,
                                          los_pick mode,
                                          double threshold_db,
                                          double predicted_delay)
{
    d_apes.fit(centred);
    const int n = static_cast<int>(d_w.size());
    for (int j = 0; j < n; ++j)
        d_w[j] = -2.0 * M_PI * (guess + (j - d_half) * d_step) / d_k;
    d_apes.capon(d_w.data(), n, d_p.data());
    // every grid local maximum is refined before the peaks are compared
    d_peaks.clear();
    for (int j = 1; j + 1 < n; ++j)
        if (d_p[j] >= d_p[j - 1] && d_p[j] >= d_p[j + 1])
            d_peaks.push_back(refine(guess + (j - d_half) * d_step)); // within reserve()

    double t = guess;
    if (!d_peaks.empty()) {
        size_t ib = 0;
        for (size_t i = 1; i < d_peaks.size(); ++i)
            if (d_peaks[i].power > d_peaks[ib].power)
                ib = i;
        if (mode == los_pick::first) {
            const double thr = d_peaks[ib].power * std::pow(10.0, threshold_db / 10.0);
            for (size_t i = 0; i < d_peaks.size(); ++i)
                if (d_peaks[i].power >= thr) {
                    ib = i;
                    break;
                }
        } else if (mode == los_pick::predicted) {
            for (size_t i = 0; i < d_peaks.size(); ++i)
                if (std::abs(d_peaks[i].delay - predicted_delay) <
                    std::abs(d_peaks[ib].delay - predicted_delay))
                    ib = i;
        }
        t = d_peaks[ib].delay;
    }
    const std::complex<double> a =
        d_apes.amplitude(-2.0 * M_PI * t / d_k) * std::polar(1.0, -2.0 * M_PI * d_kh * t / d_k);
    return { t, a };
}

} // namespace arraycal
} // namespace gr
