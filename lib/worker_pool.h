/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_WORKER_POOL_H
#define INCLUDED_ARRAYCAL_WORKER_POOL_H

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace gr {
namespace arraycal {

/*!
 * A small persistent pool: run(job) calls job(w) once for every worker
 * w < workers() and returns when all have returned. Worker 0 is the calling
 * thread, so one worker starts no thread. The threads start at the first
 * run() and are joined by stop() (a block's stop()) or the destructor; run()
 * after stop() starts them again. run() allocates nothing. An exception in
 * a worker is rethrown by run() once every worker has finished.
 */
class worker_pool
{
public:
    //! The job of one run(): fn(ctx, worker).
    using job_fn = void (*)(void* ctx, int worker);

    explicit worker_pool(int workers);
    ~worker_pool() { stop(); }
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    int workers() const { return d_workers; }
    void run(job_fn fn, void* ctx);
    void stop();

private:
    void loop(int worker);

    const int d_workers;
    std::vector<std::thread> d_threads;
    std::mutex d_mutex;
    std::condition_variable d_start, d_done;
    job_fn d_fn = nullptr;
    void* d_ctx = nullptr;
    unsigned long d_generation = 0; // one per run()
    int d_running = 0;              // pool threads still in this run's job
    bool d_quit = false;
    std::exception_ptr d_error;
};

} // namespace arraycal
} // namespace gr

#endif
