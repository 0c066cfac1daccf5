#!/usr/bin/python3
#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""What users run, timed side by side in one run: the throughput targets of the README.

    /usr/bin/python3 tests/bench_throughput.py [--repeats 3] [--short 1] [--long 5]

(about 3 minutes on an idle 2-core machine with the defaults)

Simulates two recordings of the thesis's outdoor set-up (2 elements, 1.3 GHz,
4 MS/s) of --short and --long seconds, then times, as whole commands started
by this script and interleaved round by round (this VM's speed drifts):
  - `arraycal process` (FFT and APES) and `arraycal rx --source file:` on each
    recording: the marginal rate between the two lengths (start-up and the
    calibration's fixed costs cancel), per channel;
  - the numpy port of the thesis receiver on the same samples (the yardstick
    for process's ratio);
  - 16 channels through the fused chain (`rx_chain`, synthetic source): wall-clock
    channel-samples per second on all cores;
  - `arraycal demo` (the 30 s campaign): wall seconds;
  - the peak resident memory of `process` for both lengths (flat in the length).
Every figure is the median of the rounds, with min..max beside it, and its
ratio to the issue's target. Peak memory comes from the kernel's accounting of
each finished child (wait4).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ARRAYCAL = shutil.which("arraycal") or "arraycal"
FS = 4e6
B210 = 30.72e6


def timed(cmd):
    """Wall seconds, CPU seconds and peak RSS (MB) of one command, as the kernel counts."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):  # 3: a `suspect` verdict still ran the whole chain
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({code}):\n{err[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def frames(out):
    with open(Path(out) / "los.csv") as f:
        return max(0, sum(1 for line in f if line[:1].isdigit()) // 2)  # 2 rows per frame


def numpy_rate(meta, seconds=0.25):
    """Samples per channel per CPU-second of the numpy thesis receiver on a recording."""
    import json
    from bench_rx_chain import numpy_thesis_receiver
    m = json.load(open(meta))
    data = str(meta).replace(".sigmf-meta", ".sigmf-data")
    nch = int(m["global"].get("core:num_channels", 2))
    n = int(seconds * FS)
    x = np.fromfile(data, np.complex64, count=n * nch).reshape(n, nch).T
    c0 = time.process_time()
    numpy_thesis_receiver(x)
    return n / (time.process_time() - c0)


def sixteen_channels(seconds=1.0):
    from bench_channels import K, run, stream
    rng = np.random.default_rng(1)
    period = stream(16, 50, rng)[:, 300:300 + 50 * K]  # 50 whole packets, looped
    total = int(seconds * FS) // K * K
    wall, cpu, n, workers = run(period, total)
    return 16 * total / wall


def med(v):
    return statistics.median(v), min(v), max(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--short", type=float, default=1.0, help="seconds (default 1)")
    ap.add_argument("--long", type=float, default=5.0, help="seconds (default 5)")
    ap.add_argument("--no-demo", action="store_true", help="leave out `arraycal demo`")
    args = ap.parse_args()
    from simcampaign import TWO_EL, simulate, snake_walk
    tmp = Path(tempfile.mkdtemp(prefix="bench_throughput_"))
    try:
        sims = {}
        for secs in (args.short, args.long):
            print(f"simulating {secs:g} s at {FS / 1e6:g} MS/s ...", flush=True)
            sims[secs] = simulate(tmp / f"{secs:g}s", TWO_EL, {"A": 1.0, "B": 0.9j}, 1.3e9, FS,
                                  secs, snake_walk(heading_deg=30.0), snr_db=20, seed=1)
        store = str(tmp / "store")
        rows = {k: [] for k in ("process", "apes", "rx", "numpy", "ch16", "demo")}
        rss = {args.short: [], args.long: []}
        lengths = args.long - args.short
        for r in range(args.repeats):
            print(f"round {r + 1}/{args.repeats} ...", flush=True)
            t = {}
            for secs, sim in sims.items():
                for method in ("fft", "apes"):
                    out = tmp / f"out-{method}-{secs:g}"
                    w, c, m = timed([ARRAYCAL, "process", "--iq", sim["meta"], "--array",
                                     sim["array"], "--tx-gnss", sim["tx"], "--rx-gnss",
                                     sim["rx"], "--out", str(out), "--method", method,
                                     "--store", store, "--quiet"])
                    t[method, secs] = (w, frames(out))
                    if method == "fft":
                        rss[secs].append(m)
                out = tmp / f"out-rx-{secs:g}"
                shutil.rmtree(out, ignore_errors=True)
                w, c, m = timed([ARRAYCAL, "rx", "--source", f"file:{sim['meta']}", "--out",
                                 str(out)])
                t["rx", secs] = (w, frames(out))
            for key, name in (("fft", "process"), ("rx", "rx")):
                dt = t[key, args.long][0] - t[key, args.short][0]
                rows[name].append(lengths * FS / dt)
            (w0, f0), (w1, f1) = t["apes", args.short], t["apes", args.long]
            rows["apes"].append(2 * (f1 - f0) / (w1 - w0))   # LoS estimates: 2 channels
            rows["numpy"].append(numpy_rate(sims[args.short]["meta"]))
            rows["ch16"].append(sixteen_channels())
            if not args.no_demo:
                w, c, m = timed([ARRAYCAL, "demo", "--out", str(tmp / "demo"),
                                 "--store", store])
                rows["demo"].append(w)
        print(f"\n{os.cpu_count()} cores; {args.repeats} rounds; figures: median (min..max)")

        def line(what, vals, unit, target, better="higher", scale=1.0):
            m, lo, hi = med([v * scale for v in vals])
            ratio = m / target if better == "higher" else target / m
            print(f"{what:58s} {m:9.2f} ({lo:.2f}..{hi:.2f}) {unit:10s} target "
                  f"{'>=' if better == 'higher' else '<='} {target:g}: {ratio:.2f}x")
        line("process, 2 channels, marginal, per channel", rows["process"], "MS/s", 30.72,
             scale=1e-6)
        ratio = [p / n for p, n in zip(rows["process"], rows["numpy"])]
        line("  ... against the numpy thesis receiver (same run)", ratio, "x", 17)
        line("rx --source file:, 2 channels, marginal, per channel", rows["rx"], "MS/s", 30.72,
             scale=1e-6)
        line("16 channels through rx_chain, wall, all cores", rows["ch16"], "M ch-S/s", 61.44,
             scale=1e-6)
        line("APES through process, marginal", rows["apes"], "LoS/s", 2000)
        if rows["demo"]:
            line("arraycal demo (30 s campaign), wall", rows["demo"], "s", 40, better="lower")
        for secs in (args.short, args.long):
            line(f"process peak memory, {secs:g} s recording", rss[secs], "MB", 500,
                 better="lower")
        grow = [b - a for a, b in zip(rss[args.short], rss[args.long])]
        m, lo, hi = med(grow)
        print(f"{'  ... growth from the short to the long recording':58s} {m:+9.1f} "
              f"({lo:+.1f}..{hi:+.1f}) MB         target: flat")
        print(f"(B210 maximum: {B210 / 1e6:g} MS/s per channel)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
