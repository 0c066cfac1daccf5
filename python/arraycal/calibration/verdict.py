#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The verdict on a calibration, from the data's own consistency after the model.

With the right geometry, every frame's compensated ratio of element k is its
constant offset plus noise. What is left after the model (the residual) is
tested: how much of it follows the direction of arrival (a position, heading
or frequency error), the time (a drift, a clock or rate error), whether two
halves of the campaign (early/late, left/right of boresight) agree, how many
frames were used and how good the GNSS was. Where a residual has a known
signature the likely cause is named. The result is `good`, `suspect` or
`failed` with reasons; THRESHOLDS are documented in docs/design.md.
"""

import math

import numpy as np

from . import geometry
from .offsets import wrap

# limits; a check also needs statistical significance (5 sigma) to fail
THRESHOLDS = {
    "min_frames": 200,               # failed below: too few frames to judge
    "used_fraction_suspect": 0.5,    # of the frames seen
    "used_fraction_failed": 0.05,
    "direction_trend_deg": 1.5,      # RMS of the residual explained by the arrival direction
    "time_trend_deg": 1.5,           # RMS of the residual explained by a drift in time
    "split_deg": 1.5,                # early/late and left/right halves disagree by more
    "split_db": 0.15,
    "heading_correction_deg": 45.0,  # a fitted correction beyond this is suspect
    "time_offset_s": 1.5,
    "gnss_rejected_fraction": 0.5,   # of the transmitter's fixes
}
SIGMA = 5.0


def _check(checks, name, value, limit, ok, level, unit="", bound="max"):
    """bound: whether the limit is the largest ("max") or the smallest ("min") value
    that passes."""
    checks[name] = {"value": None if value is None else round(float(value), 6),
                    "limit": limit, "ok": bool(ok), "level": level, "unit": unit,
                    "bound": bound}
    return ok


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def _explained(res, X):
    """Least-squares fit of res on the columns of X (a constant is added): the fitted
    part without its mean, the coefficients, and a significance floor for its RMS."""
    A = np.column_stack([np.ones(len(res)), X])
    coef, *_ = np.linalg.lstsq(A, res, rcond=None)
    fitted = A[:, 1:] @ coef[1:]
    fitted -= fitted.mean()
    noise = np.std(res - A @ coef)
    floor = SIGMA * noise * math.sqrt(X.shape[1] / max(1, len(res)))
    return fitted, coef[1:], floor


def assess(est, result, gnss_quality=None):
    """The verdict dict: status, reasons, checks, corrections."""
    T = THRESHOLDS
    checks, suspect, failed = {}, [], []
    q = gnss_quality or {}
    corrections = {}
    fit = result.fit or {}
    if result.joint:
        corrections = {"heading_deg": result.heading_correction_deg,
                       "heading_std_deg": result.heading_std_deg,
                       "heading_identified": fit.get("heading_identified", False),
                       "time_offset_s": result.time_offset_s,
                       "time_offset_std_s": result.time_offset_std_s,
                       "time_identified": fit.get("time_identified", False)}

    seen = max(1, result.frames_seen)
    frac = result.frames_used / seen
    if not _check(checks, "frames_used_fraction", frac, T["used_fraction_failed"],
                  frac >= T["used_fraction_failed"], "failed", bound="min"):
        failed.append(f"only {result.frames_used} of {result.frames_seen} frames usable")
    elif frac < T["used_fraction_suspect"]:
        checks["frames_used_fraction"].update(ok=False, level="suspect",
                                              limit=T["used_fraction_suspect"])
        suspect.append(f"{100 * (1 - frac):.0f} % of the frames not used "
                       f"({', '.join(f'{v} {k}' for k, v in result.rejected.items())})")
    n_fix, rej = q.get("tx_fixes"), sum((q.get("tx_fixes_rejected") or {}).values())
    if n_fix:
        fr = rej / n_fix
        if not _check(checks, "gnss_fixes_rejected_fraction", fr, T["gnss_rejected_fraction"],
                      fr <= T["gnss_rejected_fraction"], "suspect"):
            suspect.append(f"{100 * fr:.0f} % of the transmitter's GNSS fixes failed the "
                           "quality gate")

    # the residual of the model the offsets come from: the LoS geometry, and the
    # ground reflection when the two-ray term was kept (its residual without the
    # term is kept for the report: what the reflection explained)
    ratio, _ = est.compensated_model(result)
    residual = _residual(est, result, ratio)
    t, _, tx, _ = est.frames()
    n = len(t)
    if not _check(checks, "frames", n, T["min_frames"], n >= T["min_frames"], "failed",
                  bound="min"):
        failed.append(f"{n} frames with positions: too few to judge the calibration")
    if n < 20:
        return _finish(checks, suspect, failed, corrections, {}, residual)

    u = tx / np.linalg.norm(tx, axis=1, keepdims=True)
    aoa = est.angles_of_arrival(result.heading_deg)
    span = max(1e-9, t[-1] - t[0])
    tn = (t - t[0]) / span
    diag = {}
    for k, e in enumerate(est.array.elements):
        if e.id == est.array.reference:
            continue
        off = result.element(e.id)
        z = ratio[:, k] / off.offset
        ph = np.angle(z)
        db = 20 * np.log10(np.abs(z))
        mad = np.median(np.abs(ph))
        ok = np.abs(ph) <= max(5 * 1.4826 * mad, math.radians(1.0))
        if ok.sum() < 20:
            continue
        ph, db, uu, tt, aa = ph[ok], db[ok], u[ok], tn[ok], aoa[ok]
        # direction of arrival: a position error dp gives 2 pi u.dp / lambda (a
        # component the trajectory hardly varies, e.g. up at a constant height,
        # cannot be told from the offset and is left out)
        axes = [j for j in range(3) if np.std(uu[:, j]) > 0.05]
        dp_mm = [None, None, None]
        if axes:
            fitted, coef, floor = _explained(ph, uu[:, axes])
            for j, c in zip(axes, coef):
                dp_mm[j] = float(c * est.lam / (2 * np.pi) * 1e3)
        else:
            fitted, floor = np.zeros(1), 0.0
        rms = math.degrees(_rms(fitted))
        lim = max(T["direction_trend_deg"], math.degrees(floor))
        if not _check(checks, f"{e.id}.direction_trend_deg", rms, lim, rms <= lim, "suspect",
                      "deg"):
            suspect.append(f"{e.id}: the residual phase follows the direction of arrival "
                           f"({rms:.1f} deg RMS, as a position error of "
                           f"({', '.join('-' if x is None else f'{x:+.0f}' for x in dp_mm)}) "
                           "mm E, N, U)")
            diag.setdefault("direction", []).append(e.id)
        # time: a drift or a clock error
        fitted, _, floor = _explained(ph, np.column_stack([tt, tt ** 2]))
        rms = math.degrees(_rms(fitted))
        lim = max(T["time_trend_deg"], math.degrees(floor))
        if not _check(checks, f"{e.id}.time_trend_deg", rms, lim, rms <= lim, "suspect", "deg"):
            suspect.append(f"{e.id}: the residual phase drifts over the campaign "
                           f"({rms:.1f} deg RMS)")
            diag.setdefault("time", []).append(e.id)
        # split halves: early/late, left/right of boresight
        for name, sel in (("early_late", tt < np.median(tt)), ("left_right", aa < 0)):
            a, b = sel, ~sel
            if a.sum() < 50 or b.sum() < 50:
                checks[f"{e.id}.{name}"] = {"value": None, "limit": None, "ok": True,
                                            "level": "not checked",
                                            "unit": "one half has < 50 frames"}
                continue
            ma, mb = np.mean(np.exp(1j * ph[a])), np.mean(np.exp(1j * ph[b]))
            dph = math.degrees(abs(np.angle(ma / mb)))
            ddb = abs(float(np.mean(db[a]) - np.mean(db[b])))
            sph = math.sqrt(np.var(ph[a]) / a.sum() + np.var(ph[b]) / b.sum())
            sdb = math.sqrt(np.var(db[a]) / a.sum() + np.var(db[b]) / b.sum())
            lim_ph = max(T["split_deg"], SIGMA * math.degrees(sph))
            lim_db = max(T["split_db"], SIGMA * sdb)
            okp = _check(checks, f"{e.id}.{name}_deg", dph, round(lim_ph, 3), dph <= lim_ph,
                         "suspect", "deg")
            okd = _check(checks, f"{e.id}.{name}_db", ddb, round(lim_db, 3), ddb <= lim_db,
                         "suspect", "dB")
            if not (okp and okd):
                halves = "early and late" if name == "early_late" else "left and right"
                suspect.append(f"{e.id}: the {halves} halves disagree by {dph:.1f} deg, "
                               f"{ddb:.2f} dB")
                diag.setdefault("split", []).append(e.id)

    if corrections:
        hc = corrections["heading_deg"]
        if abs(hc) > T["heading_correction_deg"]:
            suspect.append(f"the heading needed a {hc:+.1f} deg correction: check the array "
                           "file's heading_deg, or two channels swapped")
        if corrections["heading_identified"] and not fit.get("heading_well_conditioned", True):
            suspect.append(f"the heading was corrected by {hc:+.2f} deg, but this trajectory "
                           "ties the heading to the offsets (each degree moves them "
                           f"{fit.get('heading_sensitivity_deg_per_deg', 0):.1f} deg): verify "
                           "the array file's heading_deg, or cover a wider arc")
        h_file = est.array.heading_deg
        if corrections["heading_identified"] and h_file and abs(h_file) <= 2 * math.pi + 0.01:
            if abs(wrap(math.radians(math.degrees(h_file) - (h_file + hc)))) < math.radians(3):
                suspect.append(f"heading_deg {h_file:g} looks like radians "
                               f"({math.degrees(h_file):.1f} deg): the fit used "
                               f"{h_file + hc:.1f} deg; fix the array file")
        dt = corrections["time_offset_s"]
        if abs(dt) > T["time_offset_s"]:
            suspect.append(f"the frames' times are {dt:+.3f} s off GNSS time: check the "
                           "recording's core:datetime and the leap seconds")
    if "direction" in diag and corrections and not corrections["heading_identified"]:
        sens = fit.get("heading_sensitivity_deg_per_deg")
        suspect.append("a heading error in the array file gives this signature too; this "
                       "trajectory cannot tell it from the offsets"
                       + (f" (each degree of heading moves them {sens:.1f} deg)" if sens else "")
                       + ": check heading_deg (degrees from true north), or cover a wider arc")
    if diag:
        diag.update(_signatures(est, result))
        failed.extend(diag.pop("causes", []))
    return _finish(checks, suspect, failed, corrections, diag, residual)


def _signatures(est, result):
    """Name the likely cause of a structured residual: the frequency metadata, the
    sample rate, two swapped channels (each tried against the data)."""
    t, alpha, _, _ = est.frames()
    sel = np.linspace(0, len(t) - 1, min(len(t), 3000)).astype(int)
    t, alpha = t[sel], alpha[sel]
    r = est.array.ref_index()
    others = [k for k in range(alpha.shape[1]) if k != r]
    lever = np.array(result.lever_arm_correction_m) if result.lever_arm_correction_m else None
    # the causes are tried against what the model's reflection leaves
    tr = result.two_ray
    refl = np.angle(est.two_ray_correction(tr, result.heading_deg, lever)[sel]) \
        if tr is not None and tr.used else 0.0

    def phase(a):
        return np.angle(a / a[:, [r]]) - refl
    meas = phase(alpha)
    elem = est.array.element_enu(result.heading_deg, lever)

    def geo(times, dt):
        d, _, _ = geometry.los_geometry(est._tx_at(times + dt), elem)
        return -2 * np.pi * (d - d[:, [r]]) / est.lam

    def coherence(m, ph):
        ok = np.all(np.isfinite(ph), axis=1)
        res = m[ok] - ph[ok]
        return float(np.mean([abs(np.mean(np.exp(1j * res[:, k]))) for k in others])) \
            if ok.sum() > 10 else 0.0

    # each hypothesis is tried with the fitted time offset and without it: a fitted
    # offset may have absorbed part of the mistake
    offsets = sorted({0.0, float(est.time_offset_s)})
    base_ph = {dt: geo(t, dt) for dt in offsets}
    base = max(coherence(meas, ph) for ph in base_ph.values())
    out = {"coherence": base, "causes": []}
    better = max(0.02, 0.5 * (1 - base))   # explains half of what is missing
    cands = []   # (coherence, cause, diagnosis key, value)
    scales = np.arange(0.05, 3.0, 0.01)
    cs = [max(coherence(meas, s * ph) for ph in base_ph.values()) for s in scales]
    s = float(scales[int(np.argmax(cs))])
    if abs(s - 1) > 0.03:
        cands.append((max(cs), f"the phases follow the geometry at {s:.2f}x the carrier "
                      "frequency in the metadata: check core:frequency (Hz)",
                      "frequency_scale", s))
    # a wrong sample rate stretches the frames' times about the recording's start
    t0 = float(np.min(est.t[:est.stored]))
    for f in (0.5, 2.0):
        cands.append((coherence(meas, geo(t0 + (t - t0) * f, 0.0)),
                      f"the frames' times fit a sample rate {1 / f:g}x the recording's "
                      "core:sample_rate", "rate_scale", f))
    ids = [e.id for e in est.array.elements]
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            m = alpha.copy()
            m[:, [i, j]] = m[:, [j, i]]
            mm = phase(m)
            cands.append((max(coherence(mm, ph) for ph in base_ph.values()),
                          f"elements {ids[i]} and {ids[j]} look swapped in the array file "
                          "(their channels)", "swapped", [ids[i], ids[j]]))
    # name the hypotheses that explain the residual, the best first (several only
    # when they explain it equally well)
    good = sorted((c for c in cands if c[0] > base + better), key=lambda c: -c[0])
    for c, cause, key, value in good:
        if c < good[0][0] - 0.01:
            break
        out["causes"].append(cause)
        out.setdefault(key, []).append(value)
    return out


def _residual(est, result, ratio):
    """RMS over the elements and frames of the residual phase (deg) and amplitude (dB)
    after each element's offset: of the model used ("model": "two-ray" or "LoS") and,
    with a two-ray term kept, of the LoS-only model at the same geometry and offsets."""
    r = est.array.ref_index()
    others = [k for k in range(ratio.shape[1]) if k != r]
    offs = np.array([e.offset for e in result.elements])

    def rms(z):
        if not others or z.shape[0] == 0:
            return None, None
        z = z[:, others] / offs[others]
        return (math.degrees(_rms(np.angle(z).ravel())),
                _rms(20 * np.log10(np.abs(z)).ravel()))
    tr = result.two_ray
    kept = tr is not None and tr.used
    ph, db = rms(ratio)
    out = {"model": "two-ray" if kept else "LoS", "phase_rms_deg": ph, "amp_rms_db": db}
    if kept:
        lever = np.array(result.lever_arm_correction_m) if result.lever_arm_correction_m \
            else None
        ph0, db0 = rms(est.compensated(result.heading_deg, lever)[0])
        out.update(phase_rms_deg_los_only=ph0, amp_rms_db_los_only=db0)
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def _finish(checks, suspect, failed, corrections, diag, residual=None):
    status = "failed" if failed else "suspect" if suspect else "good"
    out = {"status": status, "reasons": failed + suspect, "checks": checks,
           "corrections": corrections, "diagnosis": {k: v for k, v in diag.items()
                                                     if k != "causes"}}
    if residual is not None:
        out["residual"] = residual
    return out


def exit_code(status):
    """The command's exit code for a verdict (docs/design.md)."""
    return {"good": 0, "suspect": 3, "failed": 4}.get(status, 4)
