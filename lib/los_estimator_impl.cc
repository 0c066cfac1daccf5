/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "los_estimator_impl.h"
#include <gnuradio/io_signature.h>
#include <stdexcept>

namespace gr {
namespace arraycal {

static const pmt::pmt_t KEY_FRAME = pmt::intern("arraycal_frame");
static const pmt::pmt_t KEY_GNSS_TIME = pmt::intern("gnss_time");
static const pmt::pmt_t PORT_LOS = pmt::mp("los");
static const pmt::pmt_t KEY_SEQ = pmt::intern("seq");
static const pmt::pmt_t KEY_CFO = pmt::intern("cfo_hz");
static const pmt::pmt_t PORT_DELAYS = pmt::mp("delays");

los_estimator::sptr los_estimator::make(int packet_len,
                                        int num_chans,
                                        double samp_rate,
                                        const std::string& method,
                                        const std::string& pick,
                                        int zero_pad,
                                        double threshold_db,
                                        double window,
                                        int apes_len)
{
    return gnuradio::make_block_sptr<los_estimator_impl>(packet_len,
                                                         num_chans,
                                                         samp_rate,
                                                         method,
                                                         pick,
                                                         zero_pad,
                                                         threshold_db,
                                                         window,
                                                         apes_len);
}

static int checked(int n)
{
    if (n < 1)
        throw std::invalid_argument("los_estimator: num_chans must be >= 1");
    return n;
}

static int checked_len(int k)
{
    if (k < 4)
        throw std::invalid_argument("los_estimator: packet_len must be >= 4");
    return k;
}

los_estimator_impl::los_estimator_impl(int packet_len,
                                       int num_chans,
                                       double samp_rate,
                                       const std::string& method,
                                       const std::string& pick,
                                       int zero_pad,
                                       double threshold_db,
                                       double window,
                                       int apes_len)
    : gr::sync_block("los_estimator",
                     gr::io_signature::make(checked(num_chans),
                                            num_chans,
                                            sizeof(gr_complex) * checked_len(packet_len)),
                     gr::io_signature::make(0, 0, 0)),
      d_len(packet_len),
      d_nchan(num_chans),
      d_rate(samp_rate),
      d_picker("los_estimator", packet_len, num_chans, method, pick, zero_pad, threshold_db,
               window, apes_len)
{
    if (!(samp_rate > 0.0))
        throw std::invalid_argument("los_estimator: samp_rate must be > 0");
    d_out.resize(1, num_chans);
    message_port_register_out(PORT_LOS);
    message_port_register_in(PORT_DELAYS);
    set_msg_handler(PORT_DELAYS,
                    [this](const pmt::pmt_t& msg) { d_picker.handle_delays(msg, d_logger); });
}

void los_estimator_impl::set_pick(const std::string& pick) { d_picker.set_pick(pick); }

void los_estimator_impl::set_threshold_db(double threshold_db)
{
    d_picker.set_threshold_db(threshold_db);
}

void los_estimator_impl::set_window(double window) { d_picker.set_window(window); }

void los_estimator_impl::set_predicted_delays(const std::vector<double>& delays)
{
    d_picker.set_predicted_delays(delays);
}

int los_estimator_impl::work(int noutput_items,
                             gr_vector_const_void_star& input_items,
                             gr_vector_void_star& output_items)
{
    std::lock_guard<std::mutex> lock(d_picker.mutex());
    const uint64_t nread = nitems_read(0);
    get_tags_in_range(d_tags, 0, nread, nread + noutput_items);
    auto tag = d_tags.begin();
    for (int i = 0; i < noutput_items; ++i) {
        double gps_time = 0.0, cfo = 0.0;
        uint64_t seq = nread + i;
        for (; tag != d_tags.end() && tag->offset <= nread + i; ++tag) {
            if (tag->offset != nread + i)
                continue;
            if (pmt::eq(tag->key, KEY_GNSS_TIME) && pmt::is_tuple(tag->value)) {
                gps_time = static_cast<double>(pmt::to_uint64(pmt::tuple_ref(tag->value, 0))) +
                           pmt::to_double(pmt::tuple_ref(tag->value, 1));
            } else if (pmt::eq(tag->key, KEY_FRAME) && pmt::is_dict(tag->value)) {
                seq = pmt::to_uint64(pmt::dict_ref(tag->value, KEY_SEQ, pmt::from_uint64(seq)));
                cfo = pmt::to_double(pmt::dict_ref(tag->value, KEY_CFO, pmt::from_double(0.0)));
            }
        }
        for (int c = 0; c < d_nchan; ++c) {
            const gr_complex* H = static_cast<const gr_complex*>(input_items[c]) + i * d_len;
            const los_estimate e = d_picker.estimate(H, c);
            d_out.gain[c] = e.gain;
            d_out.delay_s[c] = e.delay / d_rate;
            d_out.snr_db[c] = e.snr_db;
            d_out.valid[c] = e.valid ? 1 : 0;
        }
        d_out.gps_time[0] = gps_time;
        d_out.seq[0] = seq;
        d_out.cfo_hz[0] = cfo;
        d_out.frames = 1;
        message_port_pub(PORT_LOS, d_out.to_pmt(false));
        d_frames++;
    }
    return noutput_items;
}

} // namespace arraycal
} // namespace gr
