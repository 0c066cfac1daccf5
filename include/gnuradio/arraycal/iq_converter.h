/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_IQ_CONVERTER_H
#define INCLUDED_ARRAYCAL_IQ_CONVERTER_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/gr_complex.h>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gr {
namespace arraycal {

/*!
 * \brief Interleaved multi-channel I/Q samples of a SigMF datatype -> one
 * complex float stream per channel.
 *
 * \details
 * cf32_le is copied; ci16_le and ci8 are converted with VOLK and divided by
 * their full scale (32767 and 127: UHD's sc16 and sc8 wire formats, so a
 * USRP's fc32 stream recorded as ci16 comes back exactly). Samples are
 * interleaved as SigMF stores channels: I0 Q0 I1 Q1 ... of one sample time,
 * then the next. Little-endian host (x86, ARM as configured by Raspberry Pi OS).
 */
class ARRAYCAL_API iq_converter
{
public:
    //! Throws std::invalid_argument for another datatype or num_chans < 1.
    iq_converter(const std::string& datatype, unsigned num_chans);
    ~iq_converter();
    iq_converter(const iq_converter&) = delete;
    iq_converter& operator=(const iq_converter&) = delete;

    //! Bytes of one sample time (all channels).
    size_t group_bytes() const { return d_group_bytes; }
    unsigned num_chans() const { return d_nch; }
    //! The divisor of integer samples (1 for cf32_le).
    float full_scale() const { return d_scale; }

    //! n sample times at `in` (n * group_bytes() bytes) to out[c][0..n).
    void convert(const void* in, size_t n, const std::vector<gr_complex*>& out);

private:
    enum class kind { cf32, ci16, ci8 };
    kind d_kind;
    unsigned d_nch;
    size_t d_group_bytes;
    float d_scale;
    float* d_floats = nullptr; // VOLK-aligned scratch for converted integers
    size_t d_capacity = 0;     // floats
};

} // namespace arraycal
} // namespace gr

#endif
