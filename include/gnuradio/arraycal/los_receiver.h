/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_RECEIVER_H
#define INCLUDED_ARRAYCAL_LOS_RECEIVER_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/sync_block.h>

namespace gr {
namespace arraycal {

/*!
 * \brief The whole receive chain in one block: N streams in, one LoS message per frame out.
 * \ingroup arraycal
 *
 * The same four stages as zc_sync -> moose_cfo -> ls_chanest -> los_estimator,
 * with the same kernels and the same results, without the streams between
 * them: the frame sync decides each frame, then the Moose CFO, the LS
 * estimate H = Y/X and the CIR/LoS run on that frame's K samples only. No
 * sample is copied or rotated outside a frame and no tag is written, which
 * is what a receiver at a B210's full rate needs (see the README figures).
 * Use the four blocks when their streams (corrected samples, H vectors,
 * frame tags) are wanted.
 *
 * The CFO correction keeps one continuous phase across frames, as
 * moose_cfo's stream does: the LoS phase then does not turn with the
 * carrier offset from frame to frame. rx_time tags on channel 0 are
 * honoured (a new anchor is a gap: re-acquisition, and a frame that spans
 * it is dropped and counted).
 *
 * Message out "los": gps_time, seq, los (c32 per channel), delay_s, snr_db
 * (per channel), cfo_hz, valid (u8 per channel), as los_estimator.
 * Message in "delays": predicted LoS delays in samples for pick "predicted".
 */
class ARRAYCAL_API los_receiver : virtual public gr::sync_block
{
public:
    typedef std::shared_ptr<los_receiver> sptr;

    /*!
     * \param packet        the known packet, K samples (preamble first)
     * \param num_chans     number of channels
     * \param samp_rate     sample rate in Hz
     * \param preamble_len  samples of the packet used for sync (ZC twice: 278)
     * \param half_len      Moose half length P (139)
     * \param threshold     sync detection threshold on the metric, 0..1
     * \param period        packet period in samples, 0 to learn it
     * \param track_window  tracking search half-width in samples
     * \param max_misses    missed frames before re-acquisition
     * \param time_offset_s seconds added to rx_time to get GPS time
     * \param correct_cfo   remove the Moose CFO before the LS estimate
     * \param method        "fft" or "apes"
     * \param pick          "strongest", "first" or "predicted"
     * \param zero_pad      coarse CIR grid refinement (see los_estimator)
     * \param threshold_db  "first": how far below the strongest a first peak may be
     * \param window        search span in samples ("first", "predicted")
     * \param apes_len      APES filter length (method "apes")
     */
    static sptr make(const std::vector<gr_complex>& packet,
                     int num_chans = 2,
                     double samp_rate = 1e6,
                     int preamble_len = 278,
                     int half_len = 139,
                     float threshold = 0.2f,
                     int period = 0,
                     int track_window = 2,
                     int max_misses = 3,
                     double time_offset_s = 0.0,
                     bool correct_cfo = true,
                     const std::string& method = "fft",
                     const std::string& pick = "strongest",
                     int zero_pad = 1,
                     double threshold_db = -10.0,
                     double window = 8.0,
                     int apes_len = 200);

    virtual void set_threshold(float threshold) = 0;
    virtual void set_time_offset(double seconds) = 0;
    virtual void set_correct_cfo(bool correct) = 0;
    virtual void set_pick(const std::string& pick) = 0;
    virtual void set_threshold_db(double threshold_db) = 0;
    virtual void set_window(double window) = 0;
    virtual void set_predicted_delays(const std::vector<double>& delays) = 0;

    virtual int packet_len() const = 0;
    //! Learnt or given packet period, 0 while unknown.
    virtual int period() const = 0;
    //! True while the sync tracks.
    virtual bool locked() const = 0;
    //! Frames detected (the next seq).
    virtual uint64_t frames() const = 0;
    //! Tracking misses.
    virtual uint64_t misses() const = 0;
    virtual uint64_t reacquisitions() const = 0;
    //! Frames dropped because an rx_time anchor (a gap) fell inside them.
    virtual uint64_t dropped() const = 0;
    //! LoS messages sent.
    virtual uint64_t los_frames() const = 0;
};

} // namespace arraycal
} // namespace gr

#endif
