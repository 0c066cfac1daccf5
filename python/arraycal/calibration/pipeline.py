#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The one calibration pipeline, from LoS taps and GNSS fixes to a stored calibration.

    GNSS fixes -> quality gate -> track   (positions)
    LoS log    -> estimator               (frames)
    estimate -> verdict -> document -> write -> store -> report   (calibrate)

Every path that calibrates goes through it: `arraycal process` (a recording
streamed through the receive chain), `process --los` and `arraycal rx` (a LoS
log), `arraycal demo` (the simulated campaign) and the live offset_estimator
block (its frames and fixes when the flowgraph stops). The receive chain's LoS
messages are written to los.csv by the C++ los_logger, the one writer; the
pipeline reads them back with read_los_csv, the one reader, so memory stays
bounded by the estimator's reservoir whatever the recording's length.
"""

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from gnuradio import gr

from . import geometry, verdict
from . import store as calstore
from .offsets import OffsetEstimator
from .. import timeutil
from ..errors import UserError
from ..fileio import OutputStaging, atomic_write_json, atomic_write_text
from ..signals import run_flowgraph
from ..gnss import reader
from ..gnss import ubx as gnss

LOS_HEADER = "gps_time,seq,channel,re,im,delay_s,snr_db"
# LoS messages allowed in flight between the receive chain and the logger:
# GNU Radio's message queues have no back-pressure and drop beyond 8192
BACKLOG_FRAMES = 2000
MAX_ARRAY_EXTENT_M = 50.0    # positions spanning more are a units mistake (mm for m)


# ---------------------------------------------------------------- positions
def read_gnss(path, role):
    """Fixes and a decoder (None for RTKLIB) from a UBX log or an RTKLIB .pos file,
    told apart by content; no usable fix is one line saying why (gnss.reader)."""
    fixes, _, dec = reader.read_fixes(path, role)
    why = reader.no_fix_reason(path, fixes, dec)
    if why:
        raise UserError(f"{path}: {why}")
    return fixes, dec


def median_position(fixes):
    return (float(np.median([f.lat for f in fixes])), float(np.median([f.lon for f in fixes])),
            float(np.median([f.height for f in fixes])))


@dataclass
class Positions:
    """The transmitter's track around the array's GNSS antenna, and how it was made."""
    track: geometry.Track
    origin: tuple
    leap_seconds: int = None       # from the transmitter's receiver, when it said
    quality: dict = field(default_factory=dict)


def positions_from_fixes(tx_fixes, rx_fixes=None, rx_position=None, quality=None,
                         tx_name="transmitter", rx_name="receiver"):
    """Gate the fixes, place the array (its fixes' median, or rx_position), make the track."""
    quality = quality or geometry.QualityGate()
    tx_good, tx_rej = geometry.gate(tx_fixes, quality)
    if not tx_good:
        why = ", ".join(f"{v} {k}" for k, v in tx_rej.items())
        raise UserError(f"{tx_name}: all {len(tx_fixes)} transmitter fixes fail the quality "
                        f"gate ({why})")
    rx_rej = {}
    if rx_fixes:
        rx_good, rx_rej = geometry.gate(rx_fixes, quality)
        if not rx_good:
            raise UserError(f"{rx_name}: all receiver fixes fail the quality gate")
        origin = median_position(rx_good)
    elif rx_position is not None:
        origin = tuple(float(x) for x in rx_position)
    else:
        raise UserError("the array's position is needed: --rx-gnss FILE or "
                        "--rx-position LAT,LON,HEIGHT")
    return Positions(geometry.Track(tx_good, origin), origin, quality={
        "tx_fixes": len(tx_fixes), "tx_fixes_rejected": tx_rej, "rx_fixes_rejected": rx_rej})


def load_positions(tx_gnss, rx_gnss=None, rx_position=None, quality=None):
    """Positions from the transmitter's GNSS log and the array's log or position."""
    tx_fixes, tx_dec = read_gnss(tx_gnss, "tx")
    gnss.require_fixes(tx_fixes, tx_gnss)
    rx_fixes = None
    if rx_gnss:
        rx_fixes, _ = read_gnss(rx_gnss, "rx")
        gnss.require_fixes(rx_fixes, rx_gnss)
    pos = positions_from_fixes(tx_fixes, rx_fixes, rx_position, quality, tx_gnss, rx_gnss)
    if tx_dec is not None:
        pos.leap_seconds = tx_dec.stats.leap_seconds
        pos.quality["gnss_corrupt_frames"] = tx_dec.stats.corrupt
    return pos


# ---------------------------------------------------------------- LoS log
def read_los_csv(path, chunk=20000):
    """Frames of a LoS log (los.csv) in batches: dicts of arrays with a leading frame
    axis (gps_time, seq, los, delay_s, snr_db, valid). Streams the file; a half-written
    last line (a crash) and unparsable rows are skipped."""
    if not os.path.isfile(path):
        raise UserError(f"LoS log '{path}' not found")
    try:
        f = open(path, encoding="utf-8", newline="")
    except OSError as e:
        raise UserError(f"cannot read LoS log '{path}': {e.strerror}") from None
    with f:
        try:
            head = f.readline().strip()
        except UnicodeDecodeError:
            raise UserError(f"{path}: not an arraycal LoS log (not text)") from None
        if head != LOS_HEADER:
            raise UserError(f"{path}: not an arraycal LoS log (header '{head[:60]}')")
        carry = np.empty((0, 7))
        while True:
            try:
                lines = f.readlines(chunk * 60)
            except UnicodeDecodeError:
                raise UserError(f"{path}: not an arraycal LoS log (not text)") from None
            rows = _parse_rows(lines)
            if carry.size:
                rows = np.concatenate([carry, rows])
            if not lines:
                if rows.size:
                    yield _frames(rows)
                return
            # the last frame may continue in the next chunk
            key = rows[:, :2]
            last = np.flatnonzero(np.any(key != key[-1], axis=1)) if rows.size else []
            cut = last[-1] + 1 if len(last) else 0
            if cut:
                yield _frames(rows[:cut])
            carry = rows[cut:]


def _parse_rows(lines):
    good = [ln for ln in lines if ln.count(",") == 6 and ln.endswith("\n")]
    if not good:
        return np.empty((0, 7))
    try:
        return np.loadtxt(good, delimiter=",", ndmin=2)
    except ValueError:
        out = []
        for ln in good:
            try:
                out.append([float(x) for x in ln.split(",")])
            except ValueError:
                continue
        return np.array(out, float).reshape(-1, 7)


def _frames(rows):
    """Rows (gps_time, seq, channel, re, im, delay, snr) -> one entry per frame."""
    rows = rows[np.all(np.isfinite(rows[:, :3]), axis=1)]
    key = rows[:, :2]
    start = np.flatnonzero(np.concatenate([[True], np.any(key[1:] != key[:-1], axis=1)]))
    frame = np.cumsum(np.isin(np.arange(len(rows)), start)) - 1
    ch = rows[:, 2].astype(np.int64)
    ok = (ch >= 0) & (ch < 4096)
    rows, frame, ch = rows[ok], frame[ok], ch[ok]
    n, nch = len(start), int(ch.max()) + 1 if ch.size else 0
    los = np.zeros((n, nch), complex)
    delay = np.zeros((n, nch))
    snr = np.full((n, nch), -np.inf)
    los[frame, ch] = rows[:, 3] + 1j * rows[:, 4]
    delay[frame, ch] = rows[:, 5]
    snr[frame, ch] = rows[:, 6]
    return {"gps_time": key[start, 0], "seq": key[start, 1].astype(np.uint64), "los": los,
            "delay_s": delay, "snr_db": snr, "valid": np.isfinite(snr).astype(np.uint8)}


def estimator_from_log(los_csv, array, freq_hz, positions, tx_offset_enu=(0.0, 0.0, 0.0),
                       min_snr_db=10.0, max_frames=200000):
    est = OffsetEstimator(array, freq_hz, positions.track if positions else None,
                          tx_offset_enu=tx_offset_enu, min_snr_db=min_snr_db,
                          max_frames=max_frames)
    for batch in read_los_csv(los_csv):
        est.add_batch(batch)
    return est


# ---------------------------------------------------------------- receive chain
class _Feed:
    """Progress bar and back-pressure for a source that reports its sample position:
    the source waits while more than BACKLOG_FRAMES LoS messages are in flight."""

    def __init__(self, total, label, show):
        self.bar = None
        if show:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, unit="S", unit_scale=True, desc=label,
                                file=sys.stderr, leave=False, mininterval=0.5)
            except ImportError:
                pass
        self.last = 0
        self.receiver = None

    def __call__(self, pos):
        if self.bar is not None:
            self.bar.update(pos - self.last)
        self.last = pos
        if self.receiver is None:
            return
        made, seen, since = self.receiver.chain.stats()["los"], -1, time.monotonic()
        while self.receiver.logged() < made - BACKLOG_FRAMES:
            n = self.receiver.logged()
            if n != seen:
                seen, since = n, time.monotonic()
            elif time.monotonic() - since > 0.5:
                return  # the logger is stuck, not slow: don't hang the source
            time.sleep(0.002)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_chain(tb, src, num_chans, samp_rate, los_path, gps_minus_rx_time_s=0.0, method="fft",
              pick="strongest", zero_pad=1, apes_len=200, feed=None, batch_frames=64,
              on_started=None):
    """src's N outputs -> the receiver (radio.receiver) logging to los_path; runs tb to the
    end (Ctrl-C / SIGTERM: stopped, then raised). LoS results travel in batches (the
    logger pays per batch, not per frame). Returns the chain's counters and the number
    of frames logged."""
    from ..radio.receiver import receiver
    rx = receiver(num_chans, samp_rate, los_path, gps_minus_rx_time_s=gps_minus_rx_time_s,
                  method=method, pick=pick, zero_pad=zero_pad, apes_len=apes_len,
                  batch_frames=batch_frames)
    for c in range(num_chans):
        tb.connect((src, c), (rx, c))
    if feed is not None:
        feed.receiver = rx
    try:
        run_flowgraph(tb, on_started=on_started)
    finally:
        rx.close()
        if feed is not None:
            feed.close()
    return rx.chain.stats(), rx.logged()


# ---------------------------------------------------------------- calibrate
def check_inputs(array, freq_hz, where):
    """Refuse what no real campaign has: the units mistakes a field team makes."""
    if not (1e6 <= freq_hz <= 100e9):
        raise UserError(f"{where}: carrier frequency {freq_hz:g} Hz is outside 1 MHz-100 GHz "
                        "(written in MHz or GHz instead of Hz?)")
    pts = np.array([e.position_m for e in array.elements] + [array.gnss_antenna_m], float)
    extent = float(np.max(np.ptp(pts, axis=0)))
    if extent > MAX_ARRAY_EXTENT_M:
        raise UserError(f"array '{array.name}': element positions span {extent:g} m "
                        f"(more than {MAX_ARRAY_EXTENT_M:g} m: written in millimetres?)")


def calibrate(est, array, *, sample_rate, method, out_dir=None, store=None, joint=False,
              fit_lever_arm=False, gain_db=None, serials=(), quality=None, simulated=False,
              report=True, until=None, ground=None):
    """Estimate, document, write (calibration.json, frames.npz, report) and store.

    The one place a calibration document is made. out_dir None: nothing is written
    (the live block); store False: nothing is stored. ground: the two-ray model
    (calibration.multipath; None: on when the array file gives ground_height_m)."""
    if ground is None and est.ground is None and array.ground_height_m is not None:
        ground = True
    result = est.estimate(joint=joint, fit_lever_arm=fit_lever_arm, until=until, ground=ground)
    q = dict(quality or {})
    if result.two_ray is not None:
        q["two_ray"] = result.two_ray.as_dict()
    v = verdict.assess(est, result, q)
    doc = calstore.make_document(array, result, sample_rate, gain_db,
                                 ["SIMULATED"] if simulated and not serials else serials,
                                 method=method, quality=q)
    doc["verdict"] = v
    doc["simulated"] = bool(simulated)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        atomic_write_json(os.path.join(out_dir, "calibration.json"), doc)
        t, alpha, tx, snr = est.frames()
        origin = q.get("origin", (np.nan, np.nan, np.nan))
        np.savez_compressed(os.path.join(out_dir, "frames.npz"), t=t, alpha=alpha, tx=tx,
                            snr=snr, origin=np.array(origin, float), freq=est.freq)
        _write_array(out_dir, array)
    # a failed calibration is written for diagnosis but never stored
    store_path = calstore.Store(store).add(doc) \
        if store is not False and v["status"] != "failed" else None
    if report and out_dir is not None:
        from .report import write_report, write_two_ray_figure
        write_report(out_dir, array, est, result, doc, est.tx_track)
        if result.two_ray is not None:
            write_two_ray_figure(out_dir, est, result)
    return {"doc": doc, "result": result, "store_path": store_path, "estimator": est}


def _write_array(out_dir, array):
    """The array file the calibration used, for `arraycal report` (array.yaml, or
    array-used.yaml when the user's own file sits there: inputs are never rewritten)."""
    import yaml
    text = yaml.safe_dump(geometry.array_to_dict(array), sort_keys=False)
    path = os.path.join(out_dir, "array.yaml")
    if os.path.exists(path):
        try:
            same = geometry.array_to_dict(geometry.load_array(path)) == \
                geometry.array_to_dict(array)
        except UserError:
            same = False
        if same:
            return
        path = os.path.join(out_dir, "array-used.yaml")
    atomic_write_text(path, text)


def _array_of(out_dir):
    for name in ("array-used.yaml", "array.yaml"):
        p = os.path.join(out_dir, name)
        if os.path.isfile(p):
            return geometry.load_array(p)
    raise UserError(f"{out_dir}: no array.yaml: run arraycal process, rx or demo into it first")


# ---------------------------------------------------------------- the verbs' entry points
def _process(iq, array_path, tx_gnss, out_dir, rx_gnss=None, rx_position=None, method="fft",
            pick="strongest", apes_len=200, zero_pad=1, joint=False, fit_lever_arm=False,
            quality=None, tx_offset_enu=(0.0, 0.0, 0.0), min_snr_db=10.0, store=None,
            max_frames=200000, progress=True, log=print, report=True, freq_hz=None):
    """A SigMF recording through the receive chain, then calibrate(). freq_hz: the
    frequency whose captures are processed (a recording retuned to several; for one at
    a single frequency it must be that one)."""
    from ..radio.recording import mhz, open_recording, sigmf_source
    t_start = time.monotonic()
    rec = open_recording(iq, frequency=freq_hz)
    array = geometry.load_array(array_path)
    top = max(array.channels)
    if top >= rec.num_channels:
        raise UserError(f"array file {array_path} uses channel {top}, the recording "
                        f"{rec.meta_path} has {rec.num_channels} channel(s)")
    check_inputs(array, rec.frequency, rec.meta_path)
    pos = load_positions(tx_gnss, rx_gnss, rx_position, quality)
    leap = pos.leap_seconds if pos.leap_seconds is not None else \
        timeutil.leap_seconds_at_utc(rec.captures[0].utc)
    rec_t0 = rec.captures[0].utc + leap
    track = pos.track
    if track.t[-1] < rec_t0 or track.t[0] > rec.captures[-1].utc + leap + rec.duration:
        raise UserError(
            f"the transmitter's GNSS log ({timeutil.format_utc(timeutil.gps_to_utc(track.t[0]))} "
            f"to {timeutil.format_utc(timeutil.gps_to_utc(track.t[-1]))}) does not overlap the "
            f"recording (from {timeutil.format_utc(rec.captures[0].utc)}, {rec.duration:.1f} s)")
    os.makedirs(out_dir, exist_ok=True)
    los_path = os.path.join(out_dir, "los.csv")
    if os.path.exists(los_path):
        os.replace(los_path, los_path + ".previous")  # keep the last run's log
    if rec.trailing_bytes:
        log(f"warning: {rec.data_path} ends inside a sample ({rec.trailing_bytes} bytes "
            "ignored): the recording was cut off; processing up to its end")
    if len(rec.frequencies) > 1:
        log(f"processing the {len(rec.captures)} of {rec.captures_in_file} captures at "
            f"{mhz(rec.frequency)} MHz (the recording was retuned to "
            f"{', '.join(mhz(f) for f in rec.frequencies)} MHz)")
    feed = _Feed(rec.samples, "process", progress)
    tb = gr.top_block()
    src = sigmf_source(rec, feed)
    stats, logged = run_chain(tb, src, rec.num_channels, rec.sample_rate, los_path, leap,
                              method, pick, zero_pad, apes_len, feed, on_started=lambda: log(
                                  f"receive chain running on {rec.meta_path} ({rec.duration:.1f}"
                                  " s); Ctrl-C stops, storing nothing"))
    est = estimator_from_log(los_path, array, rec.frequency, pos, tx_offset_enu, min_snr_db,
                             max_frames)
    q = dict(pos.quality, recording=os.path.basename(rec.meta_path), duration_s=rec.duration,
             captures=len(rec.captures), truncated_bytes=rec.trailing_bytes,
             **({"recording_frequencies_hz": rec.frequencies}
                if len(rec.frequencies) > 1 else {}),
             frames_detected=stats["frames"], frames_dropped_at_gaps=stats["dropped_gaps"],
             leap_seconds=leap, pick=pick, origin=list(pos.origin))
    s = calibrate(est, array, sample_rate=rec.sample_rate, method=method, out_dir=out_dir,
                  store=store, joint=joint, fit_lever_arm=fit_lever_arm, gain_db=rec.gain_db,
                  serials=rec.serials, quality=q, report=report)
    elapsed = time.monotonic() - t_start
    s.update(elapsed_s=elapsed, los_path=los_path, frames_logged=logged, array=array,
             origin=pos.origin, track=track,
             realtime_factor=rec.duration / elapsed if elapsed > 0 else float("inf"))
    return s


def _calibrate_from_los(los_csv, array_path, tx_gnss, out_dir, freq_hz, samp_rate, rx_gnss=None,
                       rx_position=None, joint=False, fit_lever_arm=False, quality=None,
                       tx_offset_enu=(0.0, 0.0, 0.0), min_snr_db=10.0, store=None,
                       method="fft", gain_db=None, serials=(), report=True, extra_quality=None):
    """The calibration from a LoS log (arraycal rx, a receiver flowgraph) + GNSS;
    extra_quality: what the producer knows, into the document's quality."""
    array = array_path if isinstance(array_path, geometry.ArrayGeometry) else \
        geometry.load_array(array_path)
    check_inputs(array, freq_hz, "--freq")
    pos = load_positions(tx_gnss, rx_gnss, rx_position, quality)
    est = estimator_from_log(los_csv, array, freq_hz, pos, tx_offset_enu, min_snr_db)
    q = dict(pos.quality, los_log=os.path.basename(los_csv), origin=list(pos.origin),
             **(extra_quality or {}))
    return calibrate(est, array, sample_rate=samp_rate, method=method, out_dir=out_dir,
                     store=store, joint=joint, fit_lever_arm=fit_lever_arm, gain_db=gain_db,
                     serials=serials, quality=q, report=report)


def staged(run, out_dir, inputs, store, previous=()):
    """run(staging_dir) writes a run's outputs beside out_dir; swapped in at the end, then
    stored. Failed or interrupted (Ctrl-C, SIGTERM): nothing stored, out_dir as it was;
    inputs that sit in out_dir are never replaced."""
    with OutputStaging(out_dir, inputs) as stage:
        s = run(stage.path)
        kept = stage.commit(previous)
    if "array.yaml" in kept:   # the user's own file is the array used: no stale copy beside
        stale = os.path.join(out_dir, "array-used.yaml")
        if os.path.exists(stale) and stale not in [os.path.abspath(p) for p in inputs if p]:
            os.remove(stale)
    # a failed calibration is written for diagnosis but never stored
    s["store_path"] = calstore.Store(store).add(s["doc"]) \
        if store is not False and calstore.status(s["doc"]) != "failed" else None
    return s


def process(iq, array_path, tx_gnss, out_dir, *args, store=None, **kw):
    """A SigMF recording through the receive chain, then calibrate(); outputs staged."""
    data = str(iq)[:-len(".sigmf-meta")] + ".sigmf-data" if str(iq).endswith(".sigmf-meta") \
        else None
    s = staged(lambda d: _process(iq, array_path, tx_gnss, d, *args, store=False, **kw),
               out_dir, [iq, data, array_path, tx_gnss, kw.get("rx_gnss")], store, ("los.csv",))
    s["los_path"] = os.path.join(out_dir, "los.csv")
    return s


def calibrate_from_los(los_csv, array_path, tx_gnss, out_dir, *args, store=None, **kw):
    """The calibration from a LoS log (arraycal rx, a receiver flowgraph) + GNSS; staged."""
    array_file = None if isinstance(array_path, geometry.ArrayGeometry) else array_path
    return staged(lambda d: _calibrate_from_los(los_csv, array_path, tx_gnss, d, *args,
                                                store=False, **kw),
                  out_dir, [los_csv, array_file, tx_gnss, kw.get("rx_gnss")], store)


def regenerate_report(out_dir):
    """Report from an output directory (calibration.json, frames.npz, the array file)."""
    from .offsets import ElementOffset, OffsetResult
    from .report import write_report
    doc = calstore.load(os.path.join(out_dir, "calibration.json"))
    array = _array_of(out_dir)
    fp = os.path.join(out_dir, "frames.npz")
    if not os.path.isfile(fp):
        raise UserError(f"{fp} not found: run arraycal process, rx or demo into {out_dir} first")
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
    from .multipath import fit_from_dict
    # its factor is divided out of the figures again (two_ray.png, which needs the
    # fit's per-frame residuals, stays as the calibration wrote it)
    result.two_ray = fit_from_dict(q.get("two_ray"))
    write_report(out_dir, array, est, result, doc)
    return doc
