/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "worker_pool.h"
#include <stdexcept>

namespace gr {
namespace arraycal {

worker_pool::worker_pool(int workers) : d_workers(workers)
{
    if (workers < 1)
        throw std::invalid_argument("worker_pool: need at least one worker");
    d_threads.reserve(workers - 1);
}

void worker_pool::loop(int worker)
{
    unsigned long seen = 0;
    for (;;) {
        job_fn fn;
        void* ctx;
        {
            std::unique_lock<std::mutex> lock(d_mutex);
            d_start.wait(lock, [&] { return d_quit || d_generation != seen; });
            if (d_quit)
                return;
            seen = d_generation;
            fn = d_fn;
            ctx = d_ctx;
        }
        std::exception_ptr err;
        try {
            fn(ctx, worker);
        } catch (...) {
            err = std::current_exception();
        }
        std::lock_guard<std::mutex> lock(d_mutex);
        if (err && !d_error)
            d_error = err;
        if (--d_running == 0)
            d_done.notify_one();
    }
}

void worker_pool::run(job_fn fn, void* ctx)
{
    if (d_workers > 1) {
        std::lock_guard<std::mutex> lock(d_mutex);
        if (d_threads.empty()) {
            d_quit = false;
            for (int w = 1; w < d_workers; ++w)
                d_threads.emplace_back(&worker_pool::loop, this, w);
        }
        d_fn = fn;
        d_ctx = ctx;
        d_running = d_workers - 1;
        d_error = nullptr;
        ++d_generation;
        d_start.notify_all();
    }
    std::exception_ptr err;
    try {
        fn(ctx, 0);
    } catch (...) {
        err = std::current_exception();
    }
    if (d_workers > 1) {
        std::unique_lock<std::mutex> lock(d_mutex);
        d_done.wait(lock, [&] { return d_running == 0; });
        if (!err)
            err = d_error;
    }
    if (err)
        std::rethrow_exception(err);
}

void worker_pool::stop()
{
    {
        std::lock_guard<std::mutex> lock(d_mutex);
        if (d_threads.empty())
            return;
        d_quit = true;
    }
    d_start.notify_all();
    for (auto& t : d_threads)
        t.join();
    d_threads.clear();
}

} // namespace arraycal
} // namespace gr
