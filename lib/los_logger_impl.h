/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_LOS_LOGGER_IMPL_H
#define INCLUDED_ARRAYCAL_LOS_LOGGER_IMPL_H

#include <gnuradio/arraycal/los_logger.h>
#include <atomic>
#include <chrono>
#include <mutex>

namespace gr {
namespace arraycal {

class los_logger_impl : public los_logger
{
public:
    explicit los_logger_impl(const std::string& path);
    ~los_logger_impl() override;

    std::string path() const override { return d_path; }
    uint64_t count() const override { return d_count; }
    uint64_t rejected() const override { return d_rejected; }
    uint64_t lost() const override { return d_lost; }
    void close() override;

    bool stop() override;

private:
    void handle(const pmt::pmt_t& msg);
    bool write_all(const char* p, size_t n);
    void sync();

    const std::string d_path;
    int d_fd = -1;
    std::mutex d_mutex;
    std::string d_rows; // one frame's rows, reused
    std::chrono::steady_clock::time_point d_last_sync;
    std::atomic<uint64_t> d_count{ 0 };
    std::atomic<uint64_t> d_rejected{ 0 };
    std::atomic<uint64_t> d_lost{ 0 };
};

} // namespace arraycal
} // namespace gr

#endif
