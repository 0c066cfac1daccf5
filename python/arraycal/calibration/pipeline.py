#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Offline processing: recording + GNSS + array file -> LoS log, calibration, report.

The recording streams through the same C++ receive chain as the live
receiver (sigmf_source -> rx_chain); LoS messages go to los.csv as they
arrive and into the offset estimator, which keeps a bounded sample of
frames: memory does not grow with the recording's length.
"""

import os
import sys
import threading
import time

import numpy as np
import pmt
from gnuradio import gr

from . import store as calstore
from . import geometry
from ..gnss import ubx as gnss
from ..gnss import rtklib
from .. import timeutil
from ..errors import UserError
from ..fileio import OutputStaging, atomic_write_json
from ..signals import run_to_end
from .offsets import OffsetEstimator
from ..radio.recording import open_recording, sigmf_source
from ..radio.rx_chain import rx_chain

LOS_HEADER = "gps_time,seq,channel,re,im,delay_s,snr_db"
_K = {k: pmt.intern(k) for k in ("gps_time", "seq", "los", "delay_s", "snr_db", "valid",
                                 "cfo_hz")}


def decode_los(msg):
    """The LoS message as plain Python/numpy, by direct PMT access (pmt.to_python is
    several times slower, and this runs for every frame)."""
    ref = pmt.dict_ref
    nil = pmt.PMT_NIL
    return {"gps_time": pmt.to_double(ref(msg, _K["gps_time"], nil)),
            "seq": pmt.to_uint64(ref(msg, _K["seq"], nil)),
            "los": np.asarray(pmt.c32vector_elements(ref(msg, _K["los"], nil))),
            "delay_s": np.asarray(pmt.f64vector_elements(ref(msg, _K["delay_s"], nil))),
            "snr_db": np.asarray(pmt.f64vector_elements(ref(msg, _K["snr_db"], nil))),
            "valid": np.asarray(pmt.u8vector_elements(ref(msg, _K["valid"], nil)))}


def read_gnss(path, role):
    """Fixes and a decoder/None from a UBX log or an RTKLIB .pos file."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise UserError(f"GNSS file '{p}' not found")
    if p.lower().endswith(".pos"):
        return rtklib.read_pos(p, role), None
    fixes, dec = gnss.read_ubx_file(p, role)
    return fixes, dec


class LosSink(gr.basic_block):
    """LoS messages -> los.csv (appended, flushed per frame) and the estimator."""

    def __init__(self, path, estimator=None):
        gr.basic_block.__init__(self, name="los_sink", in_sig=None, out_sig=None)
        self.message_port_register_in(pmt.intern("los"))
        self.set_msg_handler(pmt.intern("los"), self.handle)
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self.f = open(path, "a", encoding="utf-8")
        if new:
            self.f.write(LOS_HEADER + "\n")
        self.estimator = estimator
        self.count = 0
        self._cond = threading.Condition()
        # fault injection for tests: a hard crash (SIGKILL) after N frames
        self.fault_after = int(os.environ.get("ARRAYCAL_FAULT_AFTER_FRAMES", "0") or 0)
        self.done = threading.Event()
        self._last_sync = time.monotonic()

    def handle(self, msg):
        d = decode_los(msg)
        los, delay, snr, t = d["los"], d["delay_s"], d["snr_db"], d["gps_time"]
        rows = "".join(f"{t:.7f},{d['seq']},{c},{los[c].real:.7g},{los[c].imag:.7g},"
                       f"{delay[c]:.4e},{snr[c]:.2f}\n" for c in range(los.size))
        self.f.write(rows)
        self.f.flush()
        if time.monotonic() - self._last_sync > 1.0:
            os.fsync(self.f.fileno())
            self._last_sync = time.monotonic()
        if self.estimator is not None:
            self.estimator.add(d)
        with self._cond:
            self.count += 1
            self._cond.notify_all()
        if self.fault_after and self.count >= self.fault_after:
            import signal
            os.kill(os.getpid(), signal.SIGKILL)

    def wait_until(self, frames, stall_s=0.5):
        """Block until `frames` messages were handled, or none arrived for stall_s.

        GNU Radio's message queues have no back-pressure: a source that waits
        here keeps the backlog of LoS messages, and so memory, bounded.
        """
        with self._cond:
            last = self.count
            while self.count < frames:
                self._cond.wait(stall_s)
                if self.count == last:
                    return  # nothing is coming: frames were missed, not queued
                last = self.count

    def close(self):
        if not self.f.closed:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()


def _median_position(fixes):
    lat = float(np.median([f.lat for f in fixes]))
    lon = float(np.median([f.lon for f in fixes]))
    h = float(np.median([f.height for f in fixes]))
    return lat, lon, h


def _process(iq, array_path, tx_gnss, out_dir, rx_gnss=None, rx_position=None, method="fft",
            pick="strongest", apes_len=200, zero_pad=1, joint=False, fit_lever_arm=False,
            quality=None, tx_offset_enu=(0.0, 0.0, 0.0), min_snr_db=10.0, store=None,
            max_frames=200000, progress=True, log=print, report=True):
    t_start = time.monotonic()
    rec = open_recording(iq)
    array = geometry.load_array(array_path)
    top = max(array.channels)
    if top >= rec.num_channels:
        raise UserError(f"array file {array_path} uses channel {top}, the recording "
                        f"{rec.meta_path} has {rec.num_channels} channel(s)")
    quality = quality or geometry.QualityGate()

    tx_fixes, tx_dec = read_gnss(tx_gnss, "tx")
    gnss.require_fixes(tx_fixes, tx_gnss)
    tx_good, tx_rej = geometry.gate(tx_fixes, quality)
    if not tx_good:
        raise UserError(f"{tx_gnss}: all {len(tx_fixes)} transmitter fixes fail the quality gate "
                        f"({', '.join(f'{v} {k}' for k, v in tx_rej.items())})")
    leap = tx_dec.stats.leap_seconds if tx_dec is not None and tx_dec.stats.leap_seconds \
        is not None else timeutil.leap_seconds_at_utc(rec.captures[0].utc)
    rx_rej = {}
    if rx_gnss:
        rx_fixes, _ = read_gnss(rx_gnss, "rx")
        gnss.require_fixes(rx_fixes, rx_gnss)
        rx_good, rx_rej = geometry.gate(rx_fixes, quality)
        if not rx_good:
            raise UserError(f"{rx_gnss}: all receiver fixes fail the quality gate")
        origin = _median_position(rx_good)
    elif rx_position is not None:
        origin = tuple(float(x) for x in rx_position)
    else:
        raise UserError("the array's position is needed: --rx-gnss FILE or "
                        "--rx-position LAT,LON,HEIGHT")
    track = geometry.Track(tx_good, origin)
    rec_t0 = rec.captures[0].utc + leap
    if track.t[-1] < rec_t0 or track.t[0] > rec.captures[-1].utc + leap + rec.duration:
        raise UserError(
            f"the transmitter's GNSS log ({timeutil.format_utc(timeutil.gps_to_utc(track.t[0]))} "
            f"to {timeutil.format_utc(timeutil.gps_to_utc(track.t[-1]))}) does not overlap the "
            f"recording (from {timeutil.format_utc(rec.captures[0].utc)}, {rec.duration:.1f} s)")

    os.makedirs(out_dir, exist_ok=True)
    from ..fileio import atomic_write_text
    import yaml
    atomic_write_text(os.path.join(out_dir, "array.yaml"),
                      yaml.safe_dump(geometry.array_to_dict(array), sort_keys=False))
    est = OffsetEstimator(array, rec.frequency, track, tx_offset_enu=tx_offset_enu,
                          min_snr_db=min_snr_db, max_frames=max_frames)
    los_path = os.path.join(out_dir, "los.csv")
    if os.path.exists(los_path):
        os.replace(los_path, los_path + ".previous")  # keep the last run's log
    sink = LosSink(los_path, est)
    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=rec.samples, unit="S", unit_scale=True, desc="process",
                       file=sys.stderr, leave=False, mininterval=0.5)
        except ImportError:
            bar = None
    last = [0]

    def on_progress(pos):
        if bar is not None:
            bar.update(pos - last[0])
            last[0] = pos

    backlog = 2000  # LoS messages allowed in flight

    def on_progress(pos, _orig=on_progress):
        _orig(pos)
        sink.wait_until(pos // packet_len - backlog)

    src = sigmf_source(rec, on_progress)
    chain = rx_chain(num_chans=rec.num_channels, samp_rate=rec.sample_rate, time_offset=leap,
                     method=method, pick=pick, zero_pad=zero_pad, apes_len=apes_len)
    packet_len = chain.packet_len()
    tb = gr.top_block()
    for c in range(rec.num_channels):
        tb.connect((src, c), (chain, c))
    tb.msg_connect(chain, "los", sink, "los")
    if rec.trailing_bytes:
        log(f"warning: {rec.data_path} ends inside a sample ({rec.trailing_bytes} bytes "
            "ignored): the recording was cut off; processing up to its end")
    try:
        run_to_end(tb, lambda: log(f"receive chain running on {rec.meta_path} ({rec.duration:.1f} s"
                                   f", {rec.num_channels} channels); Ctrl-C stops, storing nothing"))
    finally:
        sink.close()
        if bar is not None:
            bar.close()
    stats = chain.stats()
    elapsed = time.monotonic() - t_start
    result = est.estimate(joint=joint, fit_lever_arm=fit_lever_arm)
    doc = calstore.make_document(
        array, result, rec.sample_rate, rec.gain_db, rec.serials, method=method,
        quality={"recording": os.path.basename(rec.meta_path), "duration_s": rec.duration,
                 "captures": len(rec.captures), "truncated_bytes": rec.trailing_bytes,
                 "frames_detected": stats["frames"], "frames_dropped_at_gaps":
                 stats["dropped_gaps"], "tx_fixes": len(tx_fixes),
                 "tx_fixes_rejected": tx_rej, "rx_fixes_rejected": rx_rej,
                 "leap_seconds": leap, "pick": pick,
                 "gnss_corrupt_frames": tx_dec.stats.corrupt if tx_dec else 0})
    atomic_write_json(os.path.join(out_dir, "calibration.json"), doc)
    t, alpha, tx, snr = est.frames()
    np.savez_compressed(os.path.join(out_dir, "frames.npz"), t=t, alpha=alpha, tx=tx, snr=snr,
                        origin=np.array(origin), freq=rec.frequency)
    store_path = calstore.Store(store).add(doc) if store is not False else None
    summary = {"doc": doc, "result": result, "store_path": store_path, "elapsed_s": elapsed,
               "realtime_factor": rec.duration / elapsed if elapsed > 0 else float("inf"),
               "los_path": los_path, "frames_logged": sink.count, "estimator": est,
               "array": array, "origin": origin, "track": track}
    if report:
        from .report import write_report
        write_report(out_dir, array, est, result, doc, track)
    return summary


def process(iq, array_path, tx_gnss, out_dir, *args, store=None, **kw):
    """Recording + GNSS + array file -> outputs in out_dir, the calibration stored.

    Outputs are written into a staging directory and swapped in at the end:
    a run that fails or is interrupted (Ctrl-C, SIGTERM) stores nothing and
    leaves out_dir as it was; inputs inside out_dir are never replaced.
    """
    data = str(iq)[:-len(".sigmf-meta")] + ".sigmf-data" if str(iq).endswith(".sigmf-meta") \
        else None
    inputs = [iq, data, array_path, tx_gnss, kw.get("rx_gnss")]
    with OutputStaging(out_dir, inputs) as stage:
        s = _process(iq, array_path, tx_gnss, stage.path, *args, store=False, **kw)
        stage.commit(previous=("los.csv",))
    s["los_path"] = os.path.join(out_dir, "los.csv")
    s["store_path"] = calstore.Store(store).add(s["doc"]) if store is not False else None
    return s


def calibrate_from_los(los_csv, array_path, tx_gnss, out_dir, *args, store=None, **kw):
    """The calibration from a LoS log + GNSS, staged like process()'s outputs."""
    inputs = [los_csv, array_path, tx_gnss, kw.get("rx_gnss")]
    with OutputStaging(out_dir, inputs) as stage:
        s = _calibrate_from_los(los_csv, array_path, tx_gnss, stage.path, *args, store=False,
                                **kw)
        stage.commit()
    s["store_path"] = calstore.Store(store).add(s["doc"]) if store is not False else None
    return s


def read_los_csv(path, chunk=20000):
    """Frames of a LoS log (los.csv), as LoS message dicts, in order. Streams the file."""
    import csv
    if not os.path.isfile(path):
        raise UserError(f"LoS log '{path}' not found")
    with open(path, newline="") as f:
        rd = csv.reader(f)
        head = next(rd, None)
        if head != LOS_HEADER.split(","):
            raise UserError(f"{path}: not an arraycal LoS log (header {head})")
        cur, rows = None, []
        for lineno, row in enumerate(rd, 2):
            if len(row) != 7:
                continue  # a half-written last line after a crash
            try:
                t, seq, ch = float(row[0]), int(row[1]), int(row[2])
                vals = (complex(float(row[3]), float(row[4])), float(row[5]), float(row[6]))
            except ValueError:
                continue
            if cur is not None and (seq, t) != cur:
                yield _frame(cur, rows)
                rows = []
            cur = (seq, t)
            rows.append((ch,) + vals)
        if rows:
            yield _frame(cur, rows)


def _frame(key, rows):
    n = max(r[0] for r in rows) + 1
    los = np.zeros(n, complex)
    delay, snr = np.zeros(n), np.full(n, -np.inf)
    for ch, z, d, s_ in rows:
        los[ch], delay[ch], snr[ch] = z, d, s_
    return {"gps_time": key[1], "seq": key[0], "los": los, "delay_s": delay, "snr_db": snr,
            "valid": np.isfinite(snr).astype(np.uint8)}


def _calibrate_from_los(los_csv, array_path, tx_gnss, out_dir, freq_hz, samp_rate, rx_gnss=None,
                       rx_position=None, joint=False, fit_lever_arm=False, quality=None,
                       tx_offset_enu=(0.0, 0.0, 0.0), min_snr_db=10.0, store=None,
                       method="fft", gain_db=None, serials=(), report=True):
    """The calibration from a LoS log (arraycal rx, a receiver flowgraph) + GNSS."""
    array = geometry.load_array(array_path)
    quality = quality or geometry.QualityGate()
    tx_fixes, tx_dec = read_gnss(tx_gnss, "tx")
    tx_good, tx_rej = geometry.gate(gnss.require_fixes(tx_fixes, tx_gnss), quality)
    if not tx_good:
        raise UserError(f"{tx_gnss}: all transmitter fixes fail the quality gate")
    if rx_gnss:
        rx_fixes, _ = read_gnss(rx_gnss, "rx")
        rx_good, _ = geometry.gate(gnss.require_fixes(rx_fixes, rx_gnss), quality)
        if not rx_good:
            raise UserError(f"{rx_gnss}: all receiver fixes fail the quality gate")
        origin = _median_position(rx_good)
    elif rx_position is not None:
        origin = tuple(float(x) for x in rx_position)
    else:
        raise UserError("the array's position is needed: --rx-gnss FILE or "
                        "--rx-position LAT,LON,HEIGHT")
    track = geometry.Track(tx_good, origin)
    est = OffsetEstimator(array, freq_hz, track, tx_offset_enu=tx_offset_enu,
                          min_snr_db=min_snr_db)
    for frame in read_los_csv(los_csv):
        est.add(frame)
    result = est.estimate(joint=joint, fit_lever_arm=fit_lever_arm)
    doc = calstore.make_document(array, result, samp_rate, gain_db, serials, method,
                                 quality={"los_log": os.path.basename(los_csv),
                                          "tx_fixes": len(tx_fixes), "tx_fixes_rejected": tx_rej})
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_json(os.path.join(out_dir, "calibration.json"), doc)
    store_path = calstore.Store(store).add(doc) if store is not False else None
    if report:
        from .report import write_report
        write_report(out_dir, array, est, result, doc)
    return {"doc": doc, "result": result, "store_path": store_path, "estimator": est}


def regenerate_report(out_dir):
    """Report from a process output directory (calibration.json, frames.npz, array.yaml)."""
    from .offsets import OffsetEstimator, ElementOffset, OffsetResult
    from .report import write_report
    doc = calstore.load(os.path.join(out_dir, "calibration.json"))
    array = geometry.load_array(os.path.join(out_dir, "array.yaml"))
    fp = os.path.join(out_dir, "frames.npz")
    if not os.path.isfile(fp):
        raise UserError(f"{fp} not found: run arraycal process into {out_dir} first")
    z = np.load(fp)
    est = OffsetEstimator.from_frames(array, float(z["freq"]), z["t"], z["alpha"], z["tx"],
                                      z["snr"])
    q = doc["quality"]
    els = [ElementOffset(e["id"], e["channel"], complex(e["offset"]["re"], e["offset"]["im"]),
                         e["amp_db"], e["phase_deg"], e["phase_std_deg"], e["amp_std_db"], e["n"])
           for e in doc["elements"]]
    result = OffsetResult(doc["freq_hz"], doc["reference"], els, q["frames_seen"],
                          q["frames_used"], q.get("rejected", {}), q["heading_deg"],
                          q.get("heading_correction_deg", 0.0), q.get("heading_std_deg"),
                          q.get("lever_arm_correction_m"), q.get("lever_arm_std_m"),
                          q.get("joint_geometry", False))
    write_report(out_dir, array, est, result, doc)
    return doc
