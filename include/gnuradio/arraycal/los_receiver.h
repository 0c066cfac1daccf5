/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_RECEIVER_H
#define INCLUDED_ARRAYCAL_LOS_RECEIVER_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/sync_block.h>
#include <string>
#include <vector>

namespace gr {
namespace arraycal {

/*!
 * \brief Settings of los_receiver, by name (a reorder cannot mis-bind).
 *
 * In Python: los_receiver_settings(num_chans=4, samp_rate=4e6, ...); an
 * unknown name is an error.
 */
struct ARRAYCAL_API los_receiver_settings {
    int num_chans = 2;          //!< channels (streams in)
    double samp_rate = 1e6;     //!< sample rate in Hz
    int preamble_len = 278;     //!< samples of the packet used for sync (ZC twice: 278)
    int half_len = 139;         //!< Moose half length P
    float threshold = 0.2f;     //!< sync detection threshold on the metric, (0, 1)
    int period = 0;             //!< packet period in samples, 0 to learn it
    int track_window = 2;       //!< tracking search half-width in samples
    int max_misses = 3;         //!< missed frames before re-acquisition
    double gps_minus_rx_time_s = 0.0; //!< GPS time minus rx_time (the leap seconds for a UTC clock)
    bool correct_cfo = true;    //!< remove the Moose CFO before the LS estimate
    std::string method = "fft"; //!< "fft" or "apes"
    std::string pick = "strongest"; //!< "strongest", "first" or "predicted"
    int zero_pad = 1;           //!< coarse CIR grid refinement (see los_estimator)
    double threshold_db = -10.0; //!< "first": how far below the strongest a first peak may be
    double window = 8.0;        //!< search span in samples ("first", "predicted")
    int apes_len = 200;         //!< APES filter length (method "apes")
    //! frames per LoS message at most; 1: the single-frame message (docs/blocks.md)
    int batch_frames = 1;
    //! a batch is sent once its frames span this many seconds of samples
    double batch_latency_s = 0.1;
    //! threads for the per-channel stages (LS, CIR, LoS, APES); 0: min(channels, cores)
    int workers = 0;
};

/*!
 * \brief The whole receive chain in one block: N streams in, LoS messages out.
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
 * The per-channel stages run on `workers` threads (a persistent pool, the
 * work thread being one of them), channel c on worker c mod workers:
 * results are bit-identical for any number of workers. Frames are
 * processed and sent in batches: a work call's frames, cut into messages
 * of at most batch_frames frames spanning at most batch_latency_s of
 * samples; every frame is sent by the end of the work call that completed
 * it, so none waits for samples that may never come.
 *
 * Message out "los": with batch_frames 1, one dict per frame (gps_time,
 * seq, los c32 per channel, delay_s, snr_db per channel, cfo_hz, valid u8
 * per channel, as los_estimator); else one batch dict per message, every
 * field with a leading frame axis (docs/blocks.md, "LoS message").
 * Message in "delays": predicted LoS delays in samples for pick "predicted".
 */
class ARRAYCAL_API los_receiver : virtual public gr::sync_block
{
public:
    typedef std::shared_ptr<los_receiver> sptr;

    //! \param packet the known packet, K samples (preamble first)
    static sptr make(const std::vector<gr_complex>& packet,
                     const los_receiver_settings& settings = los_receiver_settings());

    virtual void set_threshold(float threshold) = 0;
    virtual void set_gps_minus_rx_time_s(double seconds) = 0;
    virtual double gps_minus_rx_time_s() const = 0;
    virtual void set_correct_cfo(bool correct) = 0;
    virtual void set_pick(const std::string& pick) = 0;
    virtual void set_threshold_db(double threshold_db) = 0;
    virtual void set_window(double window) = 0;
    virtual void set_predicted_delays(const std::vector<double>& delays) = 0;

    //! The settings it was made with (run-time changes not included).
    virtual los_receiver_settings settings() const = 0;
    //! Worker threads of the per-channel stages.
    virtual int workers() const = 0;
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
    //! Frames whose LoS was sent.
    virtual uint64_t los_frames() const = 0;
    //! LoS messages sent (one per batch).
    virtual uint64_t los_messages() const = 0;
};

} // namespace arraycal
} // namespace gr

#endif
