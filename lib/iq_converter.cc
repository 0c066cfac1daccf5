/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gnuradio/arraycal/iq_converter.h>
#include <volk/volk.h>
#include <cstring>
#include <stdexcept>

namespace gr {
namespace arraycal {

iq_converter::iq_converter(const std::string& datatype, unsigned num_chans) : d_nch(num_chans)
{
    if (num_chans < 1)
        throw std::invalid_argument("iq_converter: num_chans must be >= 1");
    if (datatype == "cf32_le") {
        d_kind = kind::cf32;
        d_group_bytes = 8 * num_chans;
        d_scale = 1.0f;
    } else if (datatype == "ci16_le") {
        d_kind = kind::ci16;
        d_group_bytes = 4 * num_chans;
        d_scale = 32767.0f;
    } else if (datatype == "ci8") {
        d_kind = kind::ci8;
        d_group_bytes = 2 * num_chans;
        d_scale = 127.0f;
    } else {
        throw std::invalid_argument("iq_converter: datatype " + datatype +
                                    " (cf32_le, ci16_le and ci8 are read)");
    }
}

iq_converter::~iq_converter() { volk_free(d_floats); }

void iq_converter::convert(const void* in, size_t n, const std::vector<gr_complex*>& out)
{
    const gr_complex* samples;
    if (d_kind == kind::cf32) {
        samples = static_cast<const gr_complex*>(in);
    } else {
        const size_t nf = 2 * d_nch * n;
        if (nf > d_capacity) {
            volk_free(d_floats);
            d_floats = static_cast<float*>(volk_malloc(nf * sizeof(float), volk_get_alignment()));
            if (!d_floats) {
                d_capacity = 0;
                throw std::bad_alloc();
            }
            d_capacity = nf;
        }
        if (d_kind == kind::ci16)
            volk_16i_s32f_convert_32f(
                d_floats, static_cast<const int16_t*>(in), d_scale, static_cast<unsigned>(nf));
        else
            volk_8i_s32f_convert_32f(
                d_floats, static_cast<const int8_t*>(in), d_scale, static_cast<unsigned>(nf));
        samples = reinterpret_cast<const gr_complex*>(d_floats);
    }
    if (d_nch == 1) {
        std::memcpy(out[0], samples, n * sizeof(gr_complex));
        return;
    }
    // channel c of sample time i is samples[i * nch + c]
    for (unsigned c = 0; c < d_nch; c++) {
        gr_complex* o = out[c];
        const gr_complex* s = samples + c;
        for (size_t i = 0; i < n; i++)
            o[i] = s[i * d_nch];
    }
}

} // namespace arraycal
} // namespace gr
