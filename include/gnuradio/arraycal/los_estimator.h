/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_ESTIMATOR_H
#define INCLUDED_ARRAYCAL_LOS_ESTIMATOR_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/sync_block.h>

namespace gr {
namespace arraycal {

/*!
 * \brief Line-of-sight tap of every channel per frame, published as a message.
 * \ingroup arraycal
 *
 * \details
 * Input: N vector streams of K CFR bins (from ls_chanest), one vector per
 * frame. For every frame and channel the LoS is found as cir_los
 * describes (method "fft": coarse zero-padded CIR + ML delay; method
 * "apes": forward-backward APES refinement) and one dict message is sent
 * on port "los":
 *   gps_time (double, s, GPS timescale, from the gnss_time tag), seq
 *   (uint64), los (c32vector, one per channel), delay_s (f64vector, delay
 *   of each LoS from the frame start), snr_db (f64vector: LoS tap power
 *   over the CIR noise floor, i.e. after the packet's processing gain),
 *   cfo_hz (double, from the frame tag, 0 when absent), valid (u8vector).
 *
 * Message input "delays": a f64/f32 vector of per-channel predicted delays
 * in samples for pick mode "predicted" (one value applies to all).
 */
class ARRAYCAL_API los_estimator : virtual public gr::sync_block
{
public:
    typedef std::shared_ptr<los_estimator> sptr;

    /*!
     * \param packet_len   K, bins per input vector
     * \param num_chans    number of channels
     * \param samp_rate    sample rate in Hz (delays in seconds)
     * \param method       "fft" or "apes"
     * \param pick         "strongest", "first" or "predicted"
     * \param zero_pad     coarse CIR grid refinement (thesis: 10). Every lobe
     *                     that may hold the strongest peak is refined, so 1
     *                     (a grid of one sample, the cheapest) gives the
     *                     estimate of 10; "first" uses at least 2
     * \param threshold_db "first": how far below the strongest a first peak may be
     * \param window       search span in samples ("first": before the
     *                     strongest; "predicted": +- around the prediction)
     * \param apes_len     APES filter length L (method "apes")
     */
    static sptr make(int packet_len,
                     int num_chans = 1,
                     double samp_rate = 1e6,
                     const std::string& method = "fft",
                     const std::string& pick = "strongest",
                     int zero_pad = 1,
                     double threshold_db = -10.0,
                     double window = 8.0,
                     int apes_len = 200);

    virtual void set_pick(const std::string& pick) = 0;
    virtual void set_threshold_db(double threshold_db) = 0;
    virtual void set_window(double window) = 0;
    virtual void set_predicted_delays(const std::vector<double>& delays) = 0;
    virtual uint64_t frames() const = 0;
};

} // namespace arraycal
} // namespace gr

#endif
