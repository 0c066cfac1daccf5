/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LS_CHANEST_H
#define INCLUDED_ARRAYCAL_LS_CHANEST_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/block.h>

namespace gr {
namespace arraycal {

/*!
 * \brief Per-frame least-squares channel estimate of every channel.
 * \ingroup arraycal
 *
 * \details
 * N sample streams in, N vector streams of K = len(packet) complex bins out
 * (FFT order, bin 0 = DC): one vector per "arraycal_frame" tag, H = Y/X
 * over the K samples from the frame start (see ls_estimator).
 *
 * Tags: every tag of input c inside the frame window [start, start+K) is
 * put on the frame's output vector of channel c (frame dict, gnss_time,
 * rx_time...). Samples between frames carry no tags worth a vector and
 * theirs are not forwarded. A frame whose window holds a new rx_time tag
 * (a gap, e.g. a USRP overflow, inside the packet) is dropped and counted:
 * its samples are not one packet.
 */
class ARRAYCAL_API ls_chanest : virtual public gr::block
{
public:
    typedef std::shared_ptr<ls_chanest> sptr;

    static sptr make(const std::vector<gr_complex>& packet, int num_chans = 1);

    virtual int packet_len() const = 0;
    virtual uint64_t frames() const = 0;
    //! Frames dropped because a gap fell inside them.
    virtual uint64_t dropped() const = 0;
};

} // namespace arraycal
} // namespace gr

#endif
