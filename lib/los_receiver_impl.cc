/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "los_receiver_impl.h"
#include <gnuradio/io_signature.h>
#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace gr {
namespace arraycal {

static const pmt::pmt_t KEY_RX_TIME = pmt::intern("rx_time");
static const pmt::pmt_t PORT_LOS = pmt::mp("los");
static const pmt::pmt_t PORT_DELAYS = pmt::mp("delays");

los_receiver::sptr los_receiver::make(const std::vector<gr_complex>& packet,
                                      int num_chans,
                                      double samp_rate,
                                      int preamble_len,
                                      int half_len,
                                      float threshold,
                                      int period,
                                      int track_window,
                                      int max_misses,
                                      double time_offset_s,
                                      bool correct_cfo,
                                      const std::string& method,
                                      const std::string& pick,
                                      int zero_pad,
                                      double threshold_db,
                                      double window,
                                      int apes_len)
{
    return gnuradio::make_block_sptr<los_receiver_impl>(packet,
                                                        num_chans,
                                                        samp_rate,
                                                        preamble_len,
                                                        half_len,
                                                        threshold,
                                                        period,
                                                        track_window,
                                                        max_misses,
                                                        time_offset_s,
                                                        correct_cfo,
                                                        method,
                                                        pick,
                                                        zero_pad,
                                                        threshold_db,
                                                        window,
                                                        apes_len);
}

static int checked_chans(int n)
{
    if (n < 1)
        throw std::invalid_argument("los_receiver: num_chans must be >= 1");
    return n;
}

static std::vector<gr_complex> preamble_of(const std::vector<gr_complex>& packet,
                                           int preamble_len,
                                           int half_len)
{
    if (preamble_len < 2 || preamble_len > static_cast<int>(packet.size()))
        throw std::invalid_argument("los_receiver: the preamble must fit the packet");
    if (half_len < 1 || 2 * half_len > preamble_len)
        throw std::invalid_argument("los_receiver: the preamble must hold two Moose halves");
    return std::vector<gr_complex>(packet.begin(), packet.begin() + preamble_len);
}

los_receiver_impl::los_receiver_impl(const std::vector<gr_complex>& packet,
                                     int num_chans,
                                     double samp_rate,
                                     int preamble_len,
                                     int half_len,
                                     float threshold,
                                     int period,
                                     int track_window,
                                     int max_misses,
                                     double time_offset_s,
                                     bool correct_cfo,
                                     const std::string& method,
                                     const std::string& pick,
                                     int zero_pad,
                                     double threshold_db,
                                     double window,
                                     int apes_len)
    : gr::sync_block(
          "los_receiver",
          gr::io_signature::make(checked_chans(num_chans), num_chans, sizeof(gr_complex)),
          gr::io_signature::make(0, 0, 0)),
      d_nchan(num_chans),
      d_len(static_cast<int>(packet.size())),
      d_rate(samp_rate),
      d_sync(preamble_of(packet, preamble_len, half_len),
             num_chans,
             period,
             track_window,
             max_misses,
             samp_rate,
             preamble_len / half_len),
      d_moose(half_len, samp_rate),
      d_ls(packet),
      d_picker("los_receiver",
               static_cast<int>(packet.size()),
               num_chans,
               method,
               pick,
               zero_pad,
               threshold_db,
               window,
               apes_len),
      d_threshold(threshold),
      d_time_offset(time_offset_s),
      d_correct(correct_cfo),
      d_base(num_chans),
      d_frame(num_chans),
      d_h(packet.size() * num_chans)
{
    if (!(threshold > 0.0f && threshold < 1.0f))
        throw std::invalid_argument("los_receiver: threshold must be in (0, 1)");
    // The window must reach W samples before the oldest undecided candidate
    // and W + L - 1 after the newest (the sync), and hold a whole packet
    // from a frame's start until its last sample is in (at most K - 1 calls
    // back).
    set_history(std::max(d_sync.lookback() + d_sync.lookahead() + 1, d_len));
    d_out.resize(d_nchan);
    message_port_register_out(PORT_LOS);
    message_port_register_in(PORT_DELAYS);
    set_msg_handler(PORT_DELAYS,
                    [this](const pmt::pmt_t& msg) { d_picker.handle_delays(msg, d_logger); });
}

void los_receiver_impl::set_threshold(float threshold)
{
    if (!(threshold > 0.0f && threshold < 1.0f))
        throw std::invalid_argument("los_receiver: threshold must be in (0, 1)");
    std::lock_guard<std::mutex> lock(d_mutex);
    d_threshold = threshold;
}

void los_receiver_impl::set_time_offset(double seconds)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    d_time_offset = seconds;
}

void los_receiver_impl::set_correct_cfo(bool correct)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    d_correct = correct;
}

void los_receiver_impl::set_pick(const std::string& pick) { d_picker.set_pick(pick); }

void los_receiver_impl::set_threshold_db(double threshold_db)
{
    d_picker.set_threshold_db(threshold_db);
}

void los_receiver_impl::set_window(double window) { d_picker.set_window(window); }

void los_receiver_impl::set_predicted_delays(const std::vector<double>& delays)
{
    d_picker.set_predicted_delays(delays);
}

void los_receiver_impl::process(const frame_detection& f,
                                gr_vector_const_void_star& in,
                                uint64_t oldest)
{
    const int K = d_len;
    for (int c = 0; c < d_nchan; ++c)
        d_frame[c] = static_cast<const gr_complex*>(in[c]) + (f.start - oldest);
    // Moose over the two preamble halves, joint over channels; the phase
    // runs on with the previous estimate up to this frame's start
    const double cfo = d_moose.estimate(d_frame);
    d_rot.advance(static_cast<int64_t>(f.start - d_phase_at));
    d_phase_at = f.start;
    d_rot.set_increment(-2.0 * M_PI * cfo / d_rate);

    // a new rx_time anchor inside the packet: the samples are not one
    // packet (ls_chanest's rule)
    while (!d_anchors.empty() && d_anchors.front() <= f.start)
        d_anchors.pop_front();
    if (!d_anchors.empty() && d_anchors.front() < f.start + K) {
        d_dropped++;
        return;
    }

    // the correction's phasors, once per frame, folded into the LS
    // estimate's chirps: every channel then costs what it costs uncorrected
    if (d_correct) {
        d_ls.set_input_rotation(d_rot.phase(), d_rot.increment());
    } else {
        d_ls.set_input_weights(nullptr);
    }
    for (int c = 0; c < d_nchan; ++c) {
        gr_complex* H = d_h.data() + static_cast<size_t>(c) * K;
        d_ls.estimate(d_frame[c], H);
        const los_estimate e = d_picker.estimate(H, c);
        d_out.gain[c] = e.gain;
        d_out.delay_s[c] = e.delay / d_rate;
        d_out.snr_db[c] = e.snr_db;
        d_out.valid[c] = e.valid ? 1 : 0;
    }
    d_out.gps_time = f.time.seconds();
    d_out.seq = f.seq;
    d_out.cfo_hz = cfo;
    message_port_pub(PORT_LOS, d_out.to_pmt());
    d_los_frames++;
}

int los_receiver_impl::work(int noutput_items,
                            gr_vector_const_void_star& input_items,
                            gr_vector_void_star& output_items)
{
    const int n = noutput_items;
    const uint64_t nread = nitems_read(0);
    // in[c][j] is absolute sample oldest + j (the first call's history is
    // zeros before sample 0: oldest wraps, only differences are used)
    const uint64_t oldest = nread - (history() - 1);

    get_tags_in_range(d_rx_tags, 0, nread, nread + n, KEY_RX_TIME);
    for (const auto& t : d_rx_tags) {
        d_sync.push_time(t);
        d_anchors.push_back(t.offset);
    }

    std::lock_guard<std::mutex> lock(d_mutex);
    std::lock_guard<std::mutex> lock_los(d_picker.mutex());
    // decide the candidates whose look-ahead this call completes
    const uint64_t first = nread - d_sync.lookahead();
    for (int c = 0; c < d_nchan; ++c)
        d_base[c] =
            static_cast<const gr_complex*>(input_items[c]) + (first - d_sync.lookback() - oldest);
    d_found.clear();
    d_sync.scan(d_base, first, n, d_threshold, d_time_offset, d_found);
    d_waiting.insert(d_waiting.end(), d_found.begin(), d_found.end());

    // estimate every frame whose K samples are all in
    while (!d_waiting.empty() && d_waiting.front().start + d_len <= nread + n) {
        process(d_waiting.front(), input_items, oldest);
        d_waiting.pop_front();
    }
    return n;
}

} // namespace arraycal
} // namespace gr
