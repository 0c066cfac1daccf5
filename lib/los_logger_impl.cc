/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "los_logger_impl.h"
#include "los_message.h"
#include <gnuradio/io_signature.h>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace gr {
namespace arraycal {

static const pmt::pmt_t PORT_LOS = pmt::mp("los");
static const char HEADER[] = "gps_time,seq,channel,re,im,delay_s,snr_db\n";

los_logger::sptr los_logger::make(const std::string& path)
{
    return gnuradio::make_block_sptr<los_logger_impl>(path);
}

los_logger_impl::los_logger_impl(const std::string& path)
    : gr::block("los_logger", gr::io_signature::make(0, 0, 0), gr::io_signature::make(0, 0, 0)),
      d_path(path),
      d_last_sync(std::chrono::steady_clock::now())
{
    d_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (d_fd < 0)
        throw std::runtime_error("los_logger: cannot open '" + path +
                                 "' for appending: " + std::strerror(errno));
    struct stat st;
    if (::fstat(d_fd, &st) == 0 && st.st_size == 0 && !write_all(HEADER, sizeof(HEADER) - 1)) {
        const int err = errno;
        ::close(d_fd);
        throw std::runtime_error("los_logger: cannot write to '" + path +
                                 "': " + std::strerror(err));
    }
    message_port_register_in(PORT_LOS);
    set_msg_handler(PORT_LOS, [this](const pmt::pmt_t& msg) { handle(msg); });
}

los_logger_impl::~los_logger_impl() { close(); }

bool los_logger_impl::write_all(const char* p, size_t n)
{
    while (n > 0) {
        const ssize_t w = ::write(d_fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

void los_logger_impl::sync()
{
    if (d_fd >= 0)
        ::fsync(d_fd);
    d_last_sync = std::chrono::steady_clock::now();
}

// Python's format of a float at a given presentation and precision, in any
// locale (to_chars is the C locale's printf); NaN as Python writes it
static void append_number(std::string& s, double v, std::chars_format fmt, int precision)
{
    if (std::isnan(v)) {
        s += "nan";
        return;
    }
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof(buf), v, fmt, precision);
    s.append(buf, r.ptr);
}

static void append_integer(std::string& s, uint64_t v)
{
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof(buf), v);
    s.append(buf, r.ptr);
}

// the first and then every 1000th of a counted event
static bool worth_a_line(uint64_t n) { return n == 1 || n % 1000 == 0; }

void los_logger_impl::handle(const pmt::pmt_t& msg)
{
    std::lock_guard<std::mutex> lock(d_mutex);
    los_view v;
    if (const char* why = read_los(msg, v)) {
        const uint64_t n = ++d_rejected;
        if (worth_a_line(n))
            d_logger->warn("message is not a LoS dict ({:s}); not written ({:d} so far)",
                           why,
                           n);
        return;
    }
    if (d_fd < 0) {
        const uint64_t n = (d_lost += v.frames);
        if (worth_a_line(n))
            d_logger->warn("'{:s}' is closed; frame not written ({:d} so far)", d_path, n);
        return;
    }

    d_rows.clear();
    for (size_t f = 0; f < v.frames; ++f)
        for (size_t c = 0; c < v.n; ++c) {
            const size_t at = f * v.n + c;
            append_number(d_rows, v.gps_time[f], std::chars_format::fixed, 7);
            d_rows += ',';
            append_integer(d_rows, v.seq[f]);
            d_rows += ',';
            append_integer(d_rows, c);
            d_rows += ',';
            append_number(d_rows, v.gain[at].real(), std::chars_format::general, 7);
            d_rows += ',';
            append_number(d_rows, v.gain[at].imag(), std::chars_format::general, 7);
            d_rows += ',';
            append_number(d_rows, v.delay_s[at], std::chars_format::scientific, 4);
            d_rows += ',';
            // no LoS tap above the noise: nan, which the reader takes as not valid
            if (v.valid && !v.valid[at])
                d_rows += "nan";
            else
                append_number(d_rows, v.snr_db[at], std::chars_format::fixed, 2);
            d_rows += '\n';
        }
    // one write per message (a frame or a batch): in the kernel's hands
    // before the next message
    if (!write_all(d_rows.data(), d_rows.size())) {
        const uint64_t lost = (d_lost += v.frames);
        if (worth_a_line(lost) || v.frames > 1)
            d_logger->error("cannot write to '{:s}': {:s}; {:d} frame(s) not written ({:d} "
                            "so far)",
                            d_path,
                            std::strerror(errno),
                            v.frames,
                            lost);
        return;
    }
    d_count += v.frames;
    if (std::chrono::steady_clock::now() - d_last_sync > std::chrono::seconds(1))
        sync();
}

bool los_logger_impl::stop()
{
    // messages that arrived before the flowgraph stopped are this log's too
    for (;;) {
        const pmt::pmt_t msg = delete_head_nowait(PORT_LOS);
        if (!msg)
            break;
        handle(msg);
    }
    std::lock_guard<std::mutex> lock(d_mutex);
    sync();
    return true;
}

void los_logger_impl::close()
{
    std::lock_guard<std::mutex> lock(d_mutex);
    if (d_fd < 0)
        return;
    sync();
    ::close(d_fd);
    d_fd = -1;
}

} // namespace arraycal
} // namespace gr
