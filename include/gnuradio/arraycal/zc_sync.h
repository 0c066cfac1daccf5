/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_ZC_SYNC_H
#define INCLUDED_ARRAYCAL_ZC_SYNC_H

#include <gnuradio/arraycal/api.h>
#include <gnuradio/sync_block.h>

namespace gr {
namespace arraycal {

/*!
 * \brief Finds every packet in N channels that share one LO and tags its start.
 * \ingroup arraycal
 *
 * \details
 * Correlates all channels against the known preamble, its segments (the
 * two ZC copies) combined non-coherently so that any carrier offset within
 * the Moose range keeps the peak (see preamble_correlator for the
 * normalised metric), and takes ONE timing for
 * all channels: the relative delay between elements is the measurement, so
 * it must never be re-aligned per channel.
 *
 * Acquisition: a candidate is a frame when its metric is above the
 * threshold and the largest within +-L samples (L = preamble length), which
 * rejects the half-height side peaks of a repeated preamble. Tracking: once
 * the packet period is known (given, or learnt from two equal spacings),
 * only +-track_window samples around the expected start are searched;
 * after max_misses missed frames in a row, or at a new rx_time tag (a gap,
 * e.g. a USRP overflow), it falls back to acquisition.
 *
 * The output is the input delayed by delay() = 2L - 1 samples (declared, so
 * upstream tags such as rx_time keep their place), with at each frame start
 * on every channel:
 *  - "arraycal_frame": dict {seq (uint64), peak (metric), snr_db (per-sample
 *    SNR from the metric, M/(1-M)), frac (fractional timing in samples,
 *    in [-0.5, 0.5], from sqrt(M) at the peak and its larger neighbour:
 *    exact for a sinc-shaped correlation)}
 *  - "gnss_time": (uint64 secs, double frac) GPS time of the frame's first
 *    sample: rx_time + (n - n_tag)/samp_rate + gps_minus_rx_time_s. Use
 *    gps_minus_rx_time_s = 0 when the USRP time was set from GNSS (GPS timescale),
 *    or the leap seconds (18) when it was set from a UTC host clock.
 *    Without any rx_time tag the stream starts at time 0.
 */
class ARRAYCAL_API zc_sync : virtual public gr::sync_block
{
public:
    typedef std::shared_ptr<zc_sync> sptr;

    /*!
     * \param preamble      known preamble (e.g. two ZC copies, 278 samples)
     * \param num_chans     number of channels (inputs = outputs)
     * \param threshold     detection threshold on the metric, 0..1
     * \param period        packet period in samples, 0 to learn it
     * \param track_window  tracking search half-width in samples (the
     *                      sample clocks of two +-2 ppm radios drift 0.005
     *                      samples per 1278-sample frame, re-centred every frame)
     * \param max_misses    missed frames before re-acquisition
     * \param samp_rate     sample rate in Hz
     * \param gps_minus_rx_time_s seconds added to rx_time to get GPS time
     * \param segments      preamble segments combined non-coherently (2 for
     *                      the ZC sent twice: robust to the full Moose CFO range)
     */
    static sptr make(const std::vector<gr_complex>& preamble,
                     int num_chans = 1,
                     float threshold = 0.2f,
                     int period = 0,
                     int track_window = 2,
                     int max_misses = 3,
                     double samp_rate = 1e6,
                     double gps_minus_rx_time_s = 0.0,
                     int segments = 2);

    virtual void set_threshold(float threshold) = 0;
    virtual float threshold() const = 0;
    virtual void set_gps_minus_rx_time_s(double seconds) = 0;
    virtual double gps_minus_rx_time_s() const = 0;
    //! Declared delay of the output in samples.
    virtual int delay() const = 0;
    //! Learnt or given packet period, 0 while unknown.
    virtual int period() const = 0;
    //! True while tracking.
    virtual bool locked() const = 0;
    virtual uint64_t frames() const = 0;
    virtual uint64_t misses() const = 0;
    virtual uint64_t reacquisitions() const = 0;
};

} // namespace arraycal
} // namespace gr

#endif
