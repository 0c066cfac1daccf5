/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// A known phase ramp: out[i] = in[i] exp(j (phase + i w)) computed here in
// double precision, over a long block (the float phasors must not drift),
// in pieces with advance() between them (one continuous ramp), and for any
// length (the vector lanes' tails).
#include "phase_rotator.h"
#include "qa_common.h"
#include <cmath>
#include <cstdio>
#include <complex>
#include <random>
#include <vector>

using namespace gr::arraycal;
using cd = std::complex<double>;

static double worst_error(const std::vector<gr_complex>& in,
                          const std::vector<gr_complex>& out,
                          double phase,
                          double w,
                          size_t from = 0)
{
    double worst = 0.0;
    for (size_t i = 0; i < out.size(); ++i) {
        const cd want = cd(in[from + i].real(), in[from + i].imag()) *
                        std::polar(1.0, phase + static_cast<double>(from + i) * w);
        // relative to |in|: float rounding of the product and the phasor
        worst = std::max(worst, std::abs(cd(out[i].real(), out[i].imag()) - want) /
                                    std::abs(want));
    }
    return worst;
}

int main()
{
    std::mt19937 gen(3);
    std::normal_distribution<float> nd;
    const int N = 200000;
    std::vector<gr_complex> in(N);
    for (auto& v : in)
        v = gr_complex(nd(gen), nd(gen));
    double worst_long = 0.0, worst_tail = 0.0, worst_pieces = 0.0;
    for (double w : { 2 * M_PI * 1234.5 / 4e6, -2 * M_PI * 0.37, 1e-7 }) {
        const double phase = -2.1;
        phase_rotator rot;
        rot.set_phase(phase);
        rot.set_increment(w);
        std::vector<gr_complex> out(N);
        rot.rotate(in.data(), out.data(), N);
        // no drift over 2e5 samples
        worst_long = std::max(worst_long, worst_error(in, out, phase, w));
        // every length 2..40 (lane tails)
        for (int n = 2; n <= 40; ++n) {
            std::vector<gr_complex> o(n);
            rot.rotate(in.data(), o.data(), n);
            worst_tail = std::max(worst_tail,
                                  worst_error(std::vector<gr_complex>(in.begin(), in.begin() + n),
                                              o, phase, w));
        }
        // pieces with advance(): the same ramp as one rotation, also after
        // millions of samples
        phase_rotator p;
        p.set_phase(phase);
        p.set_increment(w);
        size_t at = 0;
        for (int len : { 1000, 1278, 4097, 3 }) {
            std::vector<gr_complex> o(len);
            p.rotate(in.data() + at, o.data(), len);
            worst_pieces = std::max(worst_pieces, worst_error(in, o, phase, w, at));
            p.advance(len);
            at += len;
        }
        p.advance(5000000);
        const double want = phase + (at + 5000000.0) * w;
        // double precision over ~1e4 rad of phase: ~1e-12 relative
        const double err = std::abs(std::arg(std::polar(1.0, p.phase() - want)));
        qa::check(err < 1e-8, "advance(n) moves the phase by n w: error " + std::to_string(err));
    }
    // float phasors restarted from double every 256 samples: a few float
    // ulps (6e-8) of relative error, never growing with the length
    std::printf("relative errors: long %.2e, short %.2e, pieces %.2e\n", worst_long, worst_tail,
                worst_pieces);
    qa::check(worst_long < 2e-6, "long ramp error " + std::to_string(worst_long));
    qa::check(worst_tail < 1e-6, "short lengths error " + std::to_string(worst_tail));
    qa::check(worst_pieces < 2e-6, "ramp in pieces error " + std::to_string(worst_pieces));
    return qa::finish("qa_phase_rotator");
}
