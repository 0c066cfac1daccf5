#!/usr/bin/python3
#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""arraycal process: speed against real time and peak memory, for two recording lengths.

    /usr/bin/python3 tests/bench_process.py [--rate 4e6] [--seconds 10 30]

Simulates two campaigns (the thesis's outdoor set-up: 2 elements, 1.3 GHz)
of different lengths, runs `process` on each in a fresh process and prints
its peak resident memory and how much faster than real time it ran.
Targets: faster than real time; peak RSS under 500 MB and not growing with
the recording's length.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHILD = r"""
import json, resource, sys, time
from gnuradio.arraycal.calibration.pipeline import process
a = json.loads(sys.argv[1])
s = process(a["meta"], a["array"], a["tx"], a["out"], rx_gnss=a["rx"], progress=False,
            log=lambda m: None, store=a["out"] + "/store", report=False)
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "realtime": s["realtime_factor"], "elapsed": s["elapsed_s"],
                  "frames": s["frames_logged"]}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=4e6)
    ap.add_argument("--seconds", type=float, nargs=2, default=[10.0, 30.0])
    ap.add_argument("--keep", action="store_true", help="keep the simulated recordings")
    args = ap.parse_args()
    from simcampaign import TWO_EL, simulate, snake_walk
    tmp = Path(tempfile.mkdtemp(prefix="bench_process_"))
    rows = []
    for secs in args.seconds:
        d = tmp / f"{secs:g}s"
        print(f"simulating {secs:g} s at {args.rate / 1e6:g} MS/s ...", flush=True)
        sim = simulate(d, TWO_EL, {"A": 1.0, "B": 0.9j}, 1.3e9, args.rate, secs,
                       snake_walk(heading_deg=30.0), snr_db=20, seed=1)
        size = os.path.getsize(sim["data"]) / 1e6
        a = dict(sim, out=str(d / "out"))
        a.pop("truth")
        r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(a)], capture_output=True,
                           text=True, check=True)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append((secs, size, res))
        if not args.keep:
            os.remove(sim["data"])
    print(f"\n{'recording':>10s} {'data MB':>9s} {'frames':>8s} {'peak RSS MB':>12s} "
          f"{'x real time':>12s}")
    for secs, size, r in rows:
        print(f"{secs:9.0f}s {size:9.0f} {r['frames']:8d} {r['rss_mb']:12.0f} {r['realtime']:12.1f}")
    (s0, _, r0), (s1, _, r1) = rows
    print(f"\npeak RSS growth from {s0:g} s to {s1:g} s: {r1['rss_mb'] - r0['rss_mb']:+.0f} MB "
          f"(target: none; < 500 MB)")
    print(f"slowest: {min(r0['realtime'], r1['realtime']):.1f}x real time (target > 1x)")


if __name__ == "__main__":
    main()
