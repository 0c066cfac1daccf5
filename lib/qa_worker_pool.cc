/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// The per-channel pool of los_receiver: every worker runs each job exactly
// once, run() returns only when all have finished, a worker's exception
// reaches the caller, and the pool runs again after stop().
#include "qa_common.h"
#include "worker_pool.h"
#include <atomic>
#include <stdexcept>
#include <vector>

using namespace gr::arraycal;

struct job {
    std::vector<long> sum; // per worker
    std::atomic<int> calls{ 0 };
    int round = 0;
    int throw_on = -1;
};

static void work(void* ctx, int w)
{
    job& j = *static_cast<job*>(ctx);
    j.calls++;
    // some work, so that the workers overlap
    long s = 0;
    for (int i = 0; i < 20000; ++i)
        s += (i ^ w) % 7;
    j.sum[w] += s + j.round;
    if (w == j.throw_on)
        throw std::runtime_error("worker failed");
}

int main()
{
    for (int W : { 1, 2, 4 }) {
        worker_pool pool(W);
        job j;
        j.sum.assign(W, 0);
        const int rounds = 300;
        for (j.round = 0; j.round < rounds; ++j.round) {
            pool.run(&work, &j);
            if (j.round == 100)
                pool.stop(); // a flowgraph's stop() and restart
        }
        const std::string tag = "W=" + std::to_string(W);
        qa::check(j.calls == W * rounds, tag + " every worker ran every job once");
        bool all = true;
        for (int w = 0; w < W; ++w) {
            long want = 0;
            for (int i = 0; i < 20000; ++i)
                want += (i ^ w) % 7;
            want = want * rounds + static_cast<long>(rounds) * (rounds - 1) / 2;
            all = all && j.sum[w] == want;
        }
        qa::check(all, tag + " run() returns after every worker finished its job");
        j.throw_on = W - 1;
        bool caught = false;
        try {
            pool.run(&work, &j);
        } catch (const std::runtime_error&) {
            caught = true;
        }
        qa::check(caught, tag + " a worker's exception reaches run()'s caller");
        j.throw_on = -1;
        const int before = j.calls;
        pool.run(&work, &j);
        qa::check(j.calls == before + W, tag + " the pool runs on after an exception");
    }
    bool refused = false;
    try {
        worker_pool none(0);
    } catch (const std::invalid_argument&) {
        refused = true;
    }
    qa::check(refused, "zero workers refused");
    return qa::finish("qa_worker_pool");
}
