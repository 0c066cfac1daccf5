/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_SAMPLE_CLOCK_H
#define INCLUDED_ARRAYCAL_SAMPLE_CLOCK_H

#include <gnuradio/tags.h>
#include <pmt/pmt.h>
#include <cmath>
#include <cstdint>
#include <deque>

namespace gr {
namespace arraycal {

//! A time as whole seconds plus a fraction in [0, 1), like gr-uhd's rx_time.
struct split_time {
    uint64_t secs = 0;
    double frac = 0.0;

    static split_time normalised(double secs_in, double frac_in)
    {
        double whole = std::floor(frac_in);
        split_time t;
        double s = secs_in + whole;
        t.frac = frac_in - whole;
        if (s < 0) {
            s = 0;
        }
        t.secs = static_cast<uint64_t>(s);
        return t;
    }
    pmt::pmt_t to_pmt() const
    {
        return pmt::make_tuple(pmt::from_uint64(secs), pmt::from_double(frac));
    }
    double seconds() const { return static_cast<double>(secs) + frac; }
};

/*!
 * Maps absolute sample indices to time from rx_time tags: the time of sample
 * n is rx_time + (n - n_tag)/rate, re-anchored at every tag (gr-uhd sends a
 * new one after every overflow). Tags are pushed as they are read and only
 * applied once the sample of interest has reached them.
 */
class sample_clock
{
public:
    explicit sample_clock(double rate) : d_rate(rate) {}

    void set_rate(double rate) { d_rate = rate; }

    //! Queue an rx_time tag (offsets must arrive in order).
    void push(const gr::tag_t& tag)
    {
        if (!pmt::is_tuple(tag.value) || pmt::length(tag.value) < 2)
            return;
        anchor a;
        a.offset = tag.offset;
        a.secs = static_cast<double>(pmt::to_uint64(pmt::tuple_ref(tag.value, 0)));
        a.frac = pmt::to_double(pmt::tuple_ref(tag.value, 1));
        d_pending.push_back(a);
    }

    /*!
     * Apply every queued anchor at or before sample n. Returns true when an
     * anchor after the first one was applied in (last, n]: a discontinuity.
     */
    bool advance(uint64_t n)
    {
        bool jumped = false;
        while (!d_pending.empty() && d_pending.front().offset <= n) {
            if (d_have)
                jumped = true;
            d_cur = d_pending.front();
            d_have = true;
            d_pending.pop_front();
        }
        return jumped;
    }

    //! Time of sample n (call advance(n) first).
    split_time time_of(uint64_t n, double gps_minus_rx_time_s = 0.0) const
    {
        const double dn = static_cast<double>(static_cast<int64_t>(n - d_cur.offset));
        const double rel = dn / d_rate + gps_minus_rx_time_s;
        const double whole = std::floor(rel);
        return split_time::normalised(d_cur.secs + whole, d_cur.frac + (rel - whole));
    }

    //! Offset of the next queued anchor, or UINT64_MAX.
    uint64_t next_anchor() const
    {
        return d_pending.empty() ? UINT64_MAX : d_pending.front().offset;
    }

    bool has_anchor() const { return d_have; }
    uint64_t anchor_offset() const { return d_cur.offset; }

private:
    struct anchor {
        uint64_t offset = 0;
        double secs = 0.0;
        double frac = 0.0;
    };
    double d_rate;
    anchor d_cur;
    bool d_have = false;
    std::deque<anchor> d_pending;
};

} // namespace arraycal
} // namespace gr

#endif
