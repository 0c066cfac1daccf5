/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "apes_cir_impl.h"
#include <gnuradio/io_signature.h>
#include <cmath>
#include <stdexcept>

namespace gr {
namespace arraycal {

apes_cir::sptr apes_cir::make(
    int packet_len, int filter_len, const std::string& output, double span, double step)
{
    return gnuradio::make_block_sptr<apes_cir_impl>(packet_len, filter_len, output, span, step);
}

static bool los_only(const std::string& output)
{
    if (output == "los")
        return true;
    if (output == "window")
        return false;
    throw std::invalid_argument("apes_cir: output must be window or los, not '" + output + "'");
}

static int window_len(double span, double step)
{
    if (!(span > 0.0) || !(step > 0.0) || step > span)
        throw std::invalid_argument("apes_cir: need 0 < step <= span");
    return 2 * static_cast<int>(std::lround(span / step)) + 1;
}

apes_cir_impl::apes_cir_impl(
    int packet_len, int filter_len, const std::string& output, double span, double step)
    : gr::sync_block("apes_cir",
                     gr::io_signature::make(1, 1, sizeof(gr_complex) * packet_len),
                     gr::io_signature::make(
                         1, 1, sizeof(gr_complex) * (los_only(output) ? 1 : window_len(span, step)))),
      d_k(packet_len),
      d_kh((packet_len - 1) / 2),
      d_los_only(los_only(output)),
      d_out_len(d_los_only ? 1 : window_len(span, step)),
      d_span(span),
      d_step(step)
{
    if (d_los_only) {
        d_los = std::make_unique<cir_los>(packet_len, 2);
        d_los->set_apes(filter_len);
    } else {
        d_apes = std::make_unique<apes>(2 * d_kh + 1, filter_len);
        d_x.resize(2 * d_kh + 1);
        d_a.resize(d_out_len);
        d_w.resize(d_out_len);
        const int half = (d_out_len - 1) / 2;
        for (int j = 0; j < d_out_len; ++j)
            d_w[j] = -2.0 * M_PI * ((j - half) * step) / d_k;
    }
}

int apes_cir_impl::work(int noutput_items,
                        gr_vector_const_void_star& input_items,
                        gr_vector_void_star& output_items)
{
    const gr_complex* in = static_cast<const gr_complex*>(input_items[0]);
    gr_complex* out = static_cast<gr_complex*>(output_items[0]);
    for (int i = 0; i < noutput_items; ++i) {
        const gr_complex* H = in + static_cast<size_t>(i) * d_k;
        if (d_los_only) {
            const los_estimate e = d_los->estimate(H);
            out[i] = e.gain;
            add_item_tag(0,
                         nitems_written(0) + i,
                         pmt::intern("los_delay"),
                         pmt::from_double(e.delay),
                         alias_pmt());
            continue;
        }
        // centred response (bins -kh..kh), APES at each delay of the window;
        // e^{-j 2 pi kh t / K} turns the amplitude into the path's gain
        for (int m = 0; m < d_kh; ++m)
            d_x[m] = std::complex<double>(H[d_k - d_kh + m].real(), H[d_k - d_kh + m].imag());
        for (int m = 0; m <= d_kh; ++m)
            d_x[d_kh + m] = std::complex<double>(H[m].real(), H[m].imag());
        d_apes->fit(d_x.data());
        d_apes->amplitudes(d_w.data(), d_out_len, d_a.data());
        gr_complex* o = out + static_cast<size_t>(i) * d_out_len;
        const int half = (d_out_len - 1) / 2;
        for (int j = 0; j < d_out_len; ++j) {
            const double t = (j - half) * d_step;
            const std::complex<double> g = d_a[j] * std::polar(1.0, -2.0 * M_PI * d_kh * t / d_k);
            o[j] = gr_complex(static_cast<float>(g.real()), static_cast<float>(g.imag()));
        }
    }
    return noutput_items;
}

} // namespace arraycal
} // namespace gr
