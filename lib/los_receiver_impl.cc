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
#include <thread>

namespace gr {
namespace arraycal {

static const pmt::pmt_t KEY_RX_TIME = pmt::intern("rx_time");
static const pmt::pmt_t PORT_LOS = pmt::mp("los");
static const pmt::pmt_t PORT_DELAYS = pmt::mp("delays");

los_receiver::sptr los_receiver::make(const std::vector<gr_complex>& packet,
                                      const los_receiver_settings& settings)
{
    return gnuradio::make_block_sptr<los_receiver_impl>(packet, settings);
}

static const los_receiver_settings& checked(const los_receiver_settings& s)
{
    if (s.num_chans < 1)
        throw std::invalid_argument("los_receiver: num_chans must be >= 1");
    if (!(s.samp_rate > 0.0))
        throw std::invalid_argument("los_receiver: samp_rate must be > 0");
    if (!(s.threshold > 0.0f && s.threshold < 1.0f))
        throw std::invalid_argument("los_receiver: threshold must be in (0, 1)");
    if (s.batch_frames < 1)
        throw std::invalid_argument("los_receiver: batch_frames must be >= 1");
    if (!(s.batch_latency_s >= 0.0))
        throw std::invalid_argument("los_receiver: batch_latency_s must be >= 0");
    if (s.workers < 0)
        throw std::invalid_argument("los_receiver: workers must be >= 1, or 0 for one per "
                                    "channel up to the cores");
    return s;
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

// more workers than channels would idle
static int worker_count(const los_receiver_settings& s)
{
    int w = s.workers;
    if (w == 0)
        w = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    return std::min(w, s.num_chans);
}

los_receiver_impl::los_receiver_impl(const std::vector<gr_complex>& packet,
                                     const los_receiver_settings& s)
    : gr::sync_block(
          "los_receiver",
          gr::io_signature::make(checked(s).num_chans, s.num_chans, sizeof(gr_complex)),
          gr::io_signature::make(0, 0, 0)),
      d_settings(s),
      d_nchan(s.num_chans),
      d_len(static_cast<int>(packet.size())),
      d_rate(s.samp_rate),
      d_latency(static_cast<uint64_t>(std::llround(s.batch_latency_s * s.samp_rate))),
      d_sync(preamble_of(packet, s.preamble_len, s.half_len),
             s.num_chans,
             s.period,
             s.track_window,
             s.max_misses,
             s.samp_rate,
             s.preamble_len / s.half_len),
      d_moose(s.half_len, s.samp_rate),
      d_picker("los_receiver",
               static_cast<int>(packet.size()),
               s.num_chans,
               s.method,
               s.pick,
               s.zero_pad,
               s.threshold_db,
               s.window,
               s.apes_len,
               worker_count(s)),
      d_pool(worker_count(s)),
      d_threshold(s.threshold),
      d_gps_minus_rx_time_s(s.gps_minus_rx_time_s),
      d_correct(s.correct_cfo),
      d_base(s.num_chans),
      d_frame(s.num_chans)
{
    for (int w = 0; w < d_pool.workers(); ++w) {
        d_ls.push_back(std::make_unique<ls_estimator>(packet));
        d_h.emplace_back(packet.size());
    }
    // the frames estimated together (one pool run): at least COMPUTE_FRAMES,
    // so that one message per frame does not mean one pool run per frame
    const int capacity = std::max(s.batch_frames, COMPUTE_FRAMES);
    d_batch.resize(capacity, d_nchan);
    d_batch_start.resize(capacity);
    d_batch_phase.resize(capacity);
    d_batch_increment.resize(capacity);
    // The window must reach W samples before the oldest undecided candidate
    // and W + L - 1 after the newest (the sync), and hold a whole packet
    // from a frame's start until its last sample is in (at most K - 1 calls
    // back).
    set_history(std::max(d_sync.lookback() + d_sync.lookahead() + 1, d_len));
    message_port_register_out(PORT_LOS);
    message_port_register_in(PORT_DELAYS);
    set_msg_handler(PORT_DELAYS,
                    [this](const pmt::pmt_t& msg) { d_picker.handle_delays(msg, d_logger); });
}

los_receiver_impl::~los_receiver_impl() { d_pool.stop(); }

bool los_receiver_impl::stop()
{
    // the pool's threads end with the flowgraph (a restart starts them again)
    d_pool.stop();
    return true;
}

void los_receiver_impl::set_threshold(float threshold)
{
    if (!(threshold > 0.0f && threshold < 1.0f))
        throw std::invalid_argument("los_receiver: threshold must be in (0, 1)");
    std::lock_guard<std::mutex> lock(d_mutex);
    d_threshold = threshold;
}

void los_receiver_impl::set_gps_minus_rx_time_s(double seconds)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    d_gps_minus_rx_time_s = seconds;
}

double los_receiver_impl::gps_minus_rx_time_s() const
{
    std::lock_guard<std::mutex> lock(d_mutex);
    return d_gps_minus_rx_time_s;
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

bool los_receiver_impl::prepare(const frame_detection& f,
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
        return false;
    }
    const int i = d_batch.frames++;
    d_batch.gps_time[i] = f.time.seconds();
    d_batch.seq[i] = f.seq;
    d_batch.cfo_hz[i] = cfo;
    d_batch_start[i] = f.start;
    d_batch_phase[i] = d_rot.phase();
    d_batch_increment[i] = d_rot.increment();
    return true;
}

void los_receiver_impl::estimate_channels(int worker)
{
    // channel c on worker c mod W: every channel's result comes from the
    // same kernels whatever W is
    const int W = d_pool.workers();
    ls_estimator& ls = *d_ls[worker];
    gr_complex* H = d_h[worker].data();
    for (int i = 0; i < d_batch.frames; ++i) {
        // the correction's phasors, once per frame and worker, folded into
        // the LS estimate's chirps: every channel then costs what it costs
        // uncorrected
        if (d_batch_correct)
            ls.set_input_rotation(d_batch_phase[i], d_batch_increment[i]);
        else
            ls.set_input_weights(nullptr);
        for (int c = worker; c < d_nchan; c += W) {
            const gr_complex* y =
                static_cast<const gr_complex*>((*d_in)[c]) + (d_batch_start[i] - d_oldest);
            ls.estimate(y, H);
            const los_estimate e = d_picker.estimate(H, c, worker);
            const size_t at = static_cast<size_t>(i) * d_nchan + c;
            d_batch.gain[at] = e.gain;
            d_batch.delay_s[at] = e.delay / d_rate;
            d_batch.snr_db[at] = e.snr_db;
            d_batch.valid[at] = e.valid ? 1 : 0;
        }
    }
}

void los_receiver_impl::publish()
{
    if (d_batch.frames == 0)
        return;
    d_pool.run(&los_receiver_impl::channel_job, this);
    // messages of at most batch_frames frames whose starts span at most
    // batch_latency_s
    const int max_frames = d_settings.batch_frames;
    const bool batched = max_frames > 1;
    int first = 0;
    for (int i = 1; i <= d_batch.frames; ++i) {
        if (i < d_batch.frames && i - first < max_frames &&
            d_batch_start[i] - d_batch_start[first] <= d_latency)
            continue;
        message_port_pub(PORT_LOS, d_batch.to_pmt(batched, first, i - first));
        d_los_messages++;
        first = i;
    }
    d_los_frames += d_batch.frames;
    d_batch.frames = 0;
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
    d_sync.scan(d_base, first, n, d_threshold, d_gps_minus_rx_time_s, d_found);
    d_waiting.insert(d_waiting.end(), d_found.begin(), d_found.end());

    // every frame whose K samples are all in, estimated in blocks of frames
    // (one pool run each) and sent in messages of at most batch_frames
    // frames spanning at most batch_latency_s; all are sent before
    // returning, so no frame waits for samples that may never come
    d_in = &input_items;
    d_oldest = oldest;
    d_batch_correct = d_correct;
    while (d_waiting_head < d_waiting.size() &&
           d_waiting[d_waiting_head].start + d_len <= nread + n) {
        if (d_batch.frames == d_batch.capacity())
            publish();
        prepare(d_waiting[d_waiting_head++], input_items, oldest);
    }
    publish();
    d_in = nullptr;
    d_waiting.erase(d_waiting.begin(), d_waiting.begin() + d_waiting_head);
    d_waiting_head = 0;
    return n;
}

} // namespace arraycal
} // namespace gr
