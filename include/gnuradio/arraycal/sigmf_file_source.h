/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_SIGMF_FILE_SOURCE_H
#define INCLUDED_ARRAYCAL_SIGMF_FILE_SOURCE_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/sync_block.h>
#include <cstdint>
#include <string>
#include <vector>

namespace gr {
namespace arraycal {

/*!
 * \brief The samples of a SigMF dataset file, one complex float output per
 * channel, with an rx_time tag at the start of every segment (capture).
 *
 * \details
 * Segment i holds segment_samples[i] sample times starting at byte
 * segment_offsets[i] of the file (the Python side computes these from
 * core:offset, core:sample_start and per-capture core:header_bytes, so header
 * bytes between captures are skipped). Its first sample is tagged rx_time =
 * (segment_secs[i], segment_fracs[i]) on every output, the tuple UHD uses.
 * The conversion is iq_converter's (cf32_le, ci16_le, ci8). The file is read
 * with pread in chunks of at most 4 MiB; a file that ends early (it shrank
 * while read) ends the stream there. C++ so that no Python runs per sample.
 */
class ARRAYCAL_API sigmf_file_source : virtual public gr::sync_block
{
public:
    typedef std::shared_ptr<sigmf_file_source> sptr;

    //! Throws std::runtime_error when the file cannot be opened, and
    //! std::invalid_argument for a bad datatype or segment lists of unequal length.
    static sptr make(const std::string& path,
                     const std::string& datatype,
                     unsigned num_chans,
                     const std::vector<uint64_t>& segment_offsets,
                     const std::vector<uint64_t>& segment_samples,
                     const std::vector<uint64_t>& segment_secs,
                     const std::vector<double>& segment_fracs);

    //! Sample times produced so far.
    virtual uint64_t samples_read() const = 0;
};

} // namespace arraycal
} // namespace gr

#endif
