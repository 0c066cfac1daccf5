#!/usr/bin/python3
#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Many channels on all cores: the fused chain's worker pool, side by side in one run.

    /usr/bin/python3 tests/bench_channels.py [--channels 16] [--seconds S] [--repeats R]

Figures (N channels of the default 1278-sample packet, 20 dB SNR, 4 MS/s
nominal, CFO 1.5 kHz, each channel its own gain and delay):
  workers   rx_chain (los_receiver) with 1 worker and with 2 workers (the
            per-channel stages, LS + CIR + LoS, on a pool inside the block),
            and the default (min(channels, cores)); results are
            bit-identical, only the time differs
  consumer  the chain (default workers) into los_logger's CSV, one message
            per frame vs batches of up to 64 frames (batch_latency_s 0.1),
            and into a Python consumer that decodes every message with
            gnuradio.arraycal.radio.los.decode, per frame vs batched
Throughput is M channel-samples per second of wall time (N x samples per
channel / wall seconds, the looping sources included): what the machine
sustains with every core it has; "per CPU-s" divides by the process's CPU
time instead (what the pool costs beyond the work itself). Every figure is measured once per round,
rounds interleave them in a rotated order, each is the median over rounds.
Target on a 2-core machine: >= 61.44 M channel-samples/s (16 channels) with 2
workers. On a shared machine (other jobs running) the figures are lower
bounds and the 2-worker gain is smaller than on an idle one.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pmt
from gnuradio import arraycal, blocks, gr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simchan import multichannel_stream  # noqa: E402

K = 1278
FS = 4e6


class decoding_consumer(gr.basic_block):
    """A Python consumer of the LoS port: decodes every message into numpy."""

    def __init__(self):
        gr.basic_block.__init__(self, name="decoding_consumer", in_sig=None, out_sig=None)
        from gnuradio.arraycal.radio import los
        self._decode = los.decode
        self.frames = 0
        self.message_port_register_in(pmt.intern("los"))
        self.set_msg_handler(pmt.intern("los"), self._handle)

    def _handle(self, msg):
        self.frames += self._decode(msg)["seq"].size


def stream(nch, n_packets, rng):
    paths = [[(np.exp(1j * (0.7 * c)) * (1.0 - 0.02 * c), 0.1 + 0.05 * c)] for c in range(nch)]
    return multichannel_stream(arraycal.packet(), n_packets, paths, cfo_hz=1500, samp_rate=FS,
                               snr_db=20, rng=rng, lead=300)


def run(period, total, workers=0, batch_frames=1, logger=None, python=False):
    """Wall seconds for `total` samples per channel through the fused chain, and its frames."""
    nch = period.shape[0]
    tb = gr.top_block()
    rx = arraycal.rx_chain(num_chans=nch, samp_rate=FS, workers=workers,
                           batch_frames=batch_frames)
    for c in range(nch):
        src = blocks.vector_source_c(period[c].tolist(), True)
        head = blocks.head(gr.sizeof_gr_complex, total)
        src.set_min_output_buffer(1 << 16)
        head.set_min_output_buffer(1 << 16)
        tb.connect(src, head, (rx, c))
    sink = None
    if logger:
        sink = arraycal.los_logger(logger)
        tb.msg_connect(rx, "los", sink, "los")
    elif python:
        sink = decoding_consumer()
        tb.msg_connect(rx, "los", sink, "los")
    t0, c0 = time.perf_counter(), time.process_time()
    tb.run()  # also waits for the consumer's queue
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if logger:
        sink.close()
        return wall, cpu, sink.count(), rx.rx.workers()
    if python:
        return wall, cpu, sink.frames, rx.rx.workers()
    return wall, cpu, rx.stats()["los"], rx.rx.workers()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=2.0,
                    help="signal seconds per channel at 4 MS/s (default 2)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    nch = args.channels
    rng = np.random.default_rng(1)
    period = stream(nch, 50, rng)[:, 300:300 + 50 * K]  # 50 whole packets, looped
    total = int(args.seconds * FS) // K * K
    tmp = tempfile.mkdtemp(prefix="bench_channels_")
    configs = [("1 worker", dict(workers=1)),
               ("2 workers", dict(workers=2)),
               ("default workers", dict(workers=0)),
               ("los_logger, per frame", dict(logger=True)),
               ("los_logger, batches of 64", dict(logger=True, batch_frames=64)),
               ("Python decode, per frame", dict(python=True)),
               ("Python decode, batches of 64", dict(python=True, batch_frames=64))]
    rates = {name: [] for name, _ in configs}
    cpu_rates = {name: [] for name, _ in configs}
    info = {}
    for r in range(args.repeats):
        for name, kw in configs[r % len(configs):] + configs[:r % len(configs)]:
            if kw.get("logger"):
                kw = dict(kw, logger=os.path.join(tmp, f"los_{r}_{len(rates[name])}.csv"))
            wall, cpu, frames, workers = run(period, total, **kw)
            rates[name].append(nch * total / wall)
            cpu_rates[name].append(nch * total / cpu)
            info[name] = (frames, workers)
    shutil.rmtree(tmp, ignore_errors=True)

    med = statistics.median
    print(f"{nch} channels x {total / FS:.1f} s at 4 MS/s, {os.cpu_count()} cores; wall time,"
          f" sources included; median of {args.repeats} interleaved rounds\n")
    print(f"{'figure':30s} {'M ch-samples/s':>15s} {'rounds':>17s} {'per CPU-s':>10s}"
          f" {'workers':>8s} {'frames':>7s}")
    for name, _ in configs:
        v = rates[name]
        frames, workers = info[name]
        print(f"{name:30s} {med(v) / 1e6:15.1f} {min(v) / 1e6:8.1f}..{max(v) / 1e6:<8.1f}"
              f"{med(cpu_rates[name]) / 1e6:10.1f} {workers:8d} {frames:7d}")
    one, two = med(rates["1 worker"]), med(rates["2 workers"])
    print(f"\n2 workers / 1 worker: {two / one:.2f}x; 2 workers vs the target 61.44 M"
          f" channel-samples/s: {two / 61.44e6:.2f}x")
    for what in ("los_logger", "Python decode"):
        a = med(rates[f"{what}, per frame"])
        b = med(rates[f"{what}, batches of 64"])
        print(f"{what}: batches / per frame {b / a:.2f}x")


if __name__ == "__main__":
    main()
