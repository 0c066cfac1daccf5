/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_LOGGER_H
#define INCLUDED_ARRAYCAL_LOS_LOGGER_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/block.h>
#include <string>

namespace gr {
namespace arraycal {

/*!
 * \brief LoS messages to a CSV log, one row per frame and channel.
 * \ingroup arraycal
 *
 * \details
 * Columns gps_time, seq, channel, re, im, delay_s, snr_db (docs/design.md's
 * los.csv), numbers as Python's "{:.7f},{},{},{:.7g},{:.7g},{:.4e},{:.2f}"
 * in any locale. The file is appended to, with the header only when it is
 * new or empty. A message is one frame or a batch of frames (docs/blocks.md,
 * "LoS message"); every message's rows go to the kernel in one write, so a
 * crash of the process loses nothing that was handled; fsync at most once
 * a second, on stop() and on close(), bounds what a power loss can take.
 * Messages still queued when the flowgraph stops are written by stop().
 *
 * A message that is not a LoS dict (single-frame or batch, with fields
 * that agree in length) is not written: it is counted and warned about (the first,
 * then every 1000th). A failed write (disk full) is counted and logged as
 * an error the same way; its frames are lost, the log stays whole rows.
 *
 * C++ so that it keeps up with the chain: the receiver makes up to 24 000
 * frames a second at 30.72 MS/s.
 */
class ARRAYCAL_API los_logger : virtual public gr::block
{
public:
    typedef std::shared_ptr<los_logger> sptr;

    //! Throws std::runtime_error when the file cannot be opened for appending.
    static sptr make(const std::string& path);

    virtual std::string path() const = 0;
    //! Frames written.
    virtual uint64_t count() const = 0;
    //! Messages that were not LoS dicts.
    virtual uint64_t rejected() const = 0;
    //! Frames lost to failed writes or handled after close().
    virtual uint64_t lost() const = 0;
    //! Sync to disk and close; later messages are counted as lost.
    virtual void close() = 0;
};

} // namespace arraycal
} // namespace gr

#endif
