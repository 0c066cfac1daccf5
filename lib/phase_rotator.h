/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_PHASE_ROTATOR_H
#define INCLUDED_ARRAYCAL_PHASE_ROTATOR_H

#include <gnuradio/gr_complex.h>
#include <cstdint>

namespace gr {
namespace arraycal {

/*!
 * out[i] = in[i] exp(j (phase + i w)), one phase shared by any number of
 * channels: rotate() each channel from the current phase, then advance()
 * once. The phase is kept in double precision and every call starts from
 * it, so the rotation never drifts; the float phasors restart every 256
 * samples from a double-precision one, and within a block four vectors of
 * four phasors each turn by exp(j 16 w) (vectorised for AVX2 or NEON
 * alike, no intrinsics).
 */
class phase_rotator
{
public:
    void set_increment(double w) { d_w = w; }
    double increment() const { return d_w; }
    void set_phase(double phase) { d_phase = phase; }
    double phase() const { return d_phase; }
    //! Rotate n samples from the current phase (the phase does not move).
    void rotate(const gr_complex* in, gr_complex* out, int n) const;
    //! Move the phase on by n samples.
    void advance(int64_t n);

private:
    double d_phase = 0.0;
    double d_w = 0.0;
};

} // namespace arraycal
} // namespace gr

#endif
