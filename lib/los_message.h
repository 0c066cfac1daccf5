/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_MESSAGE_H
#define INCLUDED_ARRAYCAL_LOS_MESSAGE_H

#include <gnuradio/gr_complex.h>
#include <pmt/pmt.h>
#include <cstdint>
#include <vector>

namespace gr {
namespace arraycal {

/*!
 * LoS results of up to `capacity` frames, all channels (docs/blocks.md,
 * "LoS message"): the per-channel fields frame-major, [frame * nchan + c].
 * Sized once: filling it allocates nothing; to_pmt() allocates the message.
 */
struct los_batch {
    int nchan = 0;
    int frames = 0; //!< frames held
    std::vector<double> gps_time;
    std::vector<uint64_t> seq;
    std::vector<double> cfo_hz;
    std::vector<gr_complex> gain;
    std::vector<double> delay_s;
    std::vector<double> snr_db;
    std::vector<uint8_t> valid;

    void resize(int capacity, int num_chans);
    int capacity() const { return static_cast<int>(gps_time.size()); }
    /*!
     * The message of frames first .. first+count-1 (count < 0: all held):
     * with batched = false (one frame) the single-frame dict (scalar
     * gps_time, seq and cfo_hz, per-channel vectors); with batched = true the
     * batch dict (every field a vector with a leading frame axis).
     */
    pmt::pmt_t to_pmt(bool batched, int first = 0, int count = -1) const;
};

//! A LoS message's fields as a consumer reads them, pointing into the message.
struct los_view {
    size_t frames = 0; //!< 1 for a single-frame message
    size_t n = 0;      //!< channels
    const double* gps_time = nullptr; //!< [frames]
    const uint64_t* seq = nullptr;    //!< [frames]
    const gr_complex* gain = nullptr; //!< [frames * n], frame-major
    const double* delay_s = nullptr;  //!< [frames * n]
    const double* snr_db = nullptr;   //!< [frames * n]
    const uint8_t* valid = nullptr;   //!< [frames * n], or nullptr: all valid
    // a single-frame message's scalars (gps_time and seq point here)
    double one_gps_time = 0.0;
    uint64_t one_seq = 0;
};

/*!
 * Reads a LoS message, single-frame or batch: nullptr when it is one, else
 * why not. The view points into msg (and into itself: do not copy it).
 */
const char* read_los(const pmt::pmt_t& msg, los_view& out);

} // namespace arraycal
} // namespace gr

#endif
