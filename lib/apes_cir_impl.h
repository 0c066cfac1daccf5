/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_APES_CIR_IMPL_H
#define INCLUDED_ARRAYCAL_APES_CIR_IMPL_H

#include <gnuradio/arraycal/apes.h>
#include <gnuradio/arraycal/apes_cir.h>
#include <gnuradio/arraycal/cir_los.h>
#include <memory>

namespace gr {
namespace arraycal {

class apes_cir_impl : public apes_cir
{
public:
    apes_cir_impl(int packet_len,
                  int filter_len,
                  const std::string& output,
                  double span,
                  double step);

    int output_len() const override { return d_out_len; }
    int work(int noutput_items,
             gr_vector_const_void_star& input_items,
             gr_vector_void_star& output_items) override;

private:
    const int d_k, d_kh;
    const bool d_los_only;
    const int d_out_len;
    const double d_span, d_step;
    std::unique_ptr<apes> d_apes;      // window output
    std::unique_ptr<cir_los> d_los;    // LoS output
    std::vector<std::complex<double>> d_x, d_a;
    std::vector<double> d_w;
};

} // namespace arraycal
} // namespace gr

#endif
