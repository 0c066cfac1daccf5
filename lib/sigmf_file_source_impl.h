/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_SIGMF_FILE_SOURCE_IMPL_H
#define INCLUDED_ARRAYCAL_SIGMF_FILE_SOURCE_IMPL_H

#include <gnuradio/arraycal/iq_converter.h>
#include <gnuradio/arraycal/sigmf_file_source.h>
#include <atomic>

namespace gr {
namespace arraycal {

class sigmf_file_source_impl : public sigmf_file_source
{
public:
    sigmf_file_source_impl(const std::string& path,
                           const std::string& datatype,
                           unsigned num_chans,
                           const std::vector<uint64_t>& segment_offsets,
                           const std::vector<uint64_t>& segment_samples,
                           const std::vector<uint64_t>& segment_secs,
                           const std::vector<double>& segment_fracs);
    ~sigmf_file_source_impl() override;

    uint64_t samples_read() const override { return d_read; }

    int work(int noutput_items,
             gr_vector_const_void_star& input_items,
             gr_vector_void_star& output_items) override;

private:
    iq_converter d_conv;
    int d_fd = -1;
    std::vector<uint64_t> d_offsets, d_samples, d_secs;
    std::vector<double> d_fracs;
    size_t d_seg = 0;       // current segment
    uint64_t d_in_seg = 0;  // sample times of it already produced
    size_t d_max_chunk;     // sample times per read
    std::vector<char> d_buf;
    std::vector<gr_complex*> d_out;
    std::atomic<uint64_t> d_read{ 0 };
    const pmt::pmt_t d_key;
};

} // namespace arraycal
} // namespace gr

#endif
