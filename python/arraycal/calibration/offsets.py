#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Element offsets from LoS taps and positions (thesis eq. 2.13a, made robust).

Measured LoS of element k: alpha_k = beta_k G_k eps_k with
beta_k = lambda / (4 pi d_k) exp(-j 2 pi d_k / lambda). Dividing out beta_k
(d_k from the GNSS positions) leaves G_k eps_k; the element gains G_k are
taken alike (the DoA map shows how far that holds), so the offset against
the reference element is  d_eps_k = (alpha_k / beta_k) / (alpha_ref / beta_ref).
Per frame this ratio is one measurement; over the campaign the phase is
averaged on the circle and the amplitude in dB, after rejecting outliers
(more than 4 robust standard deviations from the median), with spread and
count. The correction weight for channel k is 1 / d_eps_k.

Memory is bounded: frames are kept in a uniform random sample (reservoir)
of at most `max_frames`, with exact counts of everything seen.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from . import geometry

C = geometry.C


@dataclass
class ElementOffset:
    id: str
    channel: int
    offset: complex           # d_eps_k
    amp_db: float
    phase_deg: float
    phase_std_deg: float
    amp_std_db: float
    n: int


@dataclass
class OffsetResult:
    freq_hz: float
    reference: str
    elements: list
    frames_seen: int
    frames_used: int
    rejected: dict
    heading_deg: float
    heading_correction_deg: float = 0.0
    heading_std_deg: float = None
    lever_arm_correction_m: list = None
    lever_arm_std_m: list = None
    joint: bool = False
    time_offset_s: float = 0.0       # GNSS time minus the frames' time stamps (fitted)
    time_offset_std_s: float = None
    fit: dict = None                 # the joint geometry fit's figures (fit_geometry)
    two_ray: object = None    # multipath.TwoRayFit when a ground model was asked for

    def element(self, eid):
        return next(e for e in self.elements if e.id == eid)

    def offsets(self):
        return np.array([e.offset for e in self.elements])


def wrap(x):
    return (x + np.pi) % (2 * np.pi) - np.pi


def robust_circular(z, reject_sigma=4.0, floor_rad=math.radians(0.5)):
    """Circular mean phase and dB mean of complex ratios z, with outliers rejected.

    Returns (mean complex, phase_std_rad, amp_std_db, kept mask)."""
    z = np.asarray(z)
    ok = np.isfinite(z) & (np.abs(z) > 0)
    if not ok.any():
        return np.nan, np.nan, np.nan, ok
    ph = np.angle(z)
    db = 20 * np.log10(np.abs(z))
    keep = ok.copy()
    for _ in range(3):
        mu = np.angle(np.mean(np.exp(1j * ph[keep])))
        dev = wrap(ph - mu)
        mad = np.median(np.abs(dev[keep]))
        db_med = np.median(db[keep])
        db_mad = np.median(np.abs(db[keep] - db_med))
        lim = max(reject_sigma * 1.4826 * mad, floor_rad)
        dlim = max(reject_sigma * 1.4826 * db_mad, 0.05)
        new = ok & (np.abs(dev) <= lim) & (np.abs(db - db_med) <= dlim)
        if new.sum() == 0 or np.array_equal(new, keep):
            keep = new if new.sum() else keep
            break
        keep = new
    r = np.mean(np.exp(1j * ph[keep]))
    mu = np.angle(r)
    amp = np.mean(db[keep])
    phase_std = math.sqrt(max(0.0, -2.0 * math.log(min(1.0, abs(r))))) if keep.sum() > 1 else 0.0
    amp_std = float(np.std(db[keep], ddof=1)) if keep.sum() > 1 else 0.0
    return 10 ** (amp / 20) * np.exp(1j * mu), phase_std, amp_std, keep


class OffsetEstimator:
    """Accumulates LoS messages with positions; estimates element offsets.

    array: geometry.ArrayGeometry; tx_track: geometry.Track of the transmitter's
    GNSS antenna; rx_origin_enu: ENU of the array's GNSS antenna in the
    track's frame (a static array), or rx_track for a moving one.
    tx_offset_enu: transmitter phase centre minus its GNSS antenna (m, ENU).
    """

    def __init__(self, array, freq_hz, tx_track, rx_origin_enu=(0.0, 0.0, 0.0), rx_track=None,
                 tx_offset_enu=(0.0, 0.0, 0.0), min_snr_db=10.0, max_frames=200000, seed=1):
        self.array = array
        self.freq = float(freq_hz)
        self.lam = C / self.freq
        self.tx_track = tx_track
        self.rx_track = rx_track
        self.rx_origin = np.asarray(rx_origin_enu, float)
        self.tx_offset = np.asarray(tx_offset_enu, float)
        self.min_snr = min_snr_db
        self.max_frames = int(max_frames)
        self.rng = np.random.default_rng(seed)
        self.chan = [e.channel for e in array.elements]
        n = len(self.chan)
        self.t = np.empty(self.max_frames)
        self.alpha = np.empty((self.max_frames, n), np.complex128)
        self.tx = np.empty((self.max_frames, 3))
        self.snr = np.empty((self.max_frames, n))
        self.stored = 0
        self._version = 0
        self._cache = None
        self.frames_seen = 0
        self.accepted = 0
        self.rejected = {}
        self.ground = None   # estimate()'s default ground model (see estimate)
        self.time_offset_s = 0.0   # added to the frames' times to look up positions

    @classmethod
    def from_frames(cls, array, freq_hz, t, alpha, tx, snr):
        """An estimator holding saved frames (frames.npz), for reports."""
        est = cls(array, freq_hz, None, max_frames=max(1, len(t)))
        n = len(t)
        est.t[:n], est.alpha[:n], est.tx[:n], est.snr[:n] = t, alpha, tx, snr
        est.stored = est.accepted = est.frames_seen = n
        est._version += 1
        est._cache = ((est._version, id(None), id(None), None, 0.0), (t, alpha, tx, snr))
        return est

    def _reject(self, why):
        self.rejected[why] = self.rejected.get(why, 0) + 1

    def add(self, msg):
        """One LoS message (dict with gps_time, los, snr_db, valid).

        Positions are looked up later for all kept frames at once (one
        vectorised interpolation instead of one per frame)."""
        self.frames_seen += 1
        los = np.asarray(msg["los"])
        if los.size <= max(self.chan):
            raise UserError(f"LoS message has {los.size} channels, the array file uses "
                            f"channel {max(self.chan)}")
        a = los[self.chan]
        snr = np.asarray(msg["snr_db"])[self.chan] if "snr_db" in msg else np.full(a.size, np.inf)
        valid = np.asarray(msg["valid"])[self.chan] if "valid" in msg else True
        if not np.all(valid) or np.any(snr < self.min_snr) or np.any(a == 0):
            self._reject("low SNR")
            return
        self.accepted += 1
        # reservoir sampling (algorithm R): a uniform sample of all accepted frames
        if self.stored < self.max_frames:
            i = self.stored
            self.stored += 1
        else:
            i = int(self.rng.integers(0, self.accepted))
            if i >= self.max_frames:
                return
        self.t[i] = float(msg["gps_time"])
        self.alpha[i] = a
        self.snr[i] = snr
        self._version += 1

    def add_batch(self, batch):
        """Frames with a leading frame axis (read_los_csv's batches): the same
        acceptance and reservoir as add(), vectorised."""
        los = np.atleast_2d(np.asarray(batch["los"]))
        n = los.shape[0]
        if n == 0:
            return
        if los.shape[1] <= max(self.chan):
            raise UserError(f"LoS log has {los.shape[1]} channels, the array file uses "
                            f"channel {max(self.chan)}")
        self.frames_seen += n
        a = los[:, self.chan]
        snr = np.asarray(batch["snr_db"])[:, self.chan]
        valid = np.asarray(batch["valid"])[:, self.chan].astype(bool)
        ok = np.all(valid, axis=1) & np.all(snr >= self.min_snr, axis=1) & np.all(a != 0, axis=1)
        if (~ok).any():
            self.rejected["low SNR"] = self.rejected.get("low SNR", 0) + int((~ok).sum())
        t = np.asarray(batch["gps_time"], float)[ok]
        a, snr = a[ok], snr[ok]
        m = len(t)
        if m == 0:
            return
        # reservoir sampling (algorithm R), as add() does one frame at a time
        rank = self.accepted + np.arange(m)       # accepted frames before each one
        self.accepted += m
        slot = np.where(rank < self.max_frames, rank,
                        self.rng.integers(0, rank + 1))
        keep = slot < self.max_frames
        slot = slot[keep]
        self.t[slot], self.alpha[slot], self.snr[slot] = t[keep], a[keep], snr[keep]
        self.stored = min(self.max_frames, self.accepted)
        self._version += 1

    # ---- per-frame quantities ------------------------------------------------
    def frames(self, until=None):
        """Kept frames that have a transmitter position (time order): t, alpha, tx
        (relative to the array's GNSS antenna), snr. Positions are interpolated here,
        once per change, for all kept frames; `until` leaves out later frames (live
        use: fixes for them may still come)."""
        key = (self._version, id(self.tx_track), id(self.rx_track), until, self.time_offset_s)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        n = self.stored
        t = self.t[:n]
        if self.tx_track is None:
            raise UserError("no transmitter track to locate the frames with")
        tx = self._tx_at(t + self.time_offset_s)
        ok = np.all(np.isfinite(tx), axis=1)
        if until is not None:
            ok &= t <= until
        order = np.argsort(t[ok])
        idx = np.flatnonzero(ok)[order]
        out = (t[idx], self.alpha[:n][idx], tx[idx], self.snr[:n][idx])
        self._cache = (key, out)
        return out

    def _tx_at(self, gps_times):
        """The transmitter's phase centre relative to the array's GNSS antenna (n, 3)."""
        tx = self.tx_track.at(gps_times) + self.tx_offset
        rx = self.rx_track.at(gps_times) if self.rx_track is not None else self.rx_origin
        return tx - rx

    def positions_missing(self, until=None):
        """Accepted frames without a transmitter position (scaled from the kept sample)."""
        n = self.stored
        if n == 0:
            return 0
        t = self.t[:n]
        have = len(self.frames(until)[0])
        pending = int(np.sum(t > until)) if until is not None else 0
        return int(round((n - have - pending) * self.accepted / n))

    def compensated(self, heading_deg=None, lever_arm_m=None, until=None):
        """Per-frame ratios d_eps_k (frames, elements), and distances (frames, elements)."""
        t, alpha, tx, _ = self.frames(until)
        elem = self.array.element_enu(heading_deg, lever_arm_m)
        d, _, _ = geometry.los_geometry(tx, elem)
        beta = self.lam / (4 * np.pi * d) * np.exp(-2j * np.pi * d / self.lam)
        c = alpha / beta
        r = self.array.ref_index()
        return c / c[:, [r]], d

    def angles_of_arrival(self, heading_deg=None):
        t, _, tx, _ = self.frames()
        return geometry.angle_of_arrival(tx, np.zeros(3), self.array.heading_deg
                                         if heading_deg is None else heading_deg)

    # ---- estimates -------------------------------------------------------------
    def estimate(self, joint=False, fit_lever_arm=False, until=None, ground=None):
        """ground: False (LoS only), True (the array file's ground_height_m, searched
        when absent) or a multipath.GroundModel: a two-ray term fitted jointly, kept
        when significant (result.two_ray says which and why). None takes self.ground
        (None, LoS only, unless a caller set it)."""
        if ground is None:
            ground = self.ground
        rejected = dict(self.rejected)
        missing = self.positions_missing(until) if self.stored else 0
        if missing:
            rejected["no GNSS position"] = missing
        if self.stored == 0 or len(self.frames(until)[0]) == 0:
            why = ", ".join(f"{v} {k}" for k, v in rejected.items()) or "no frames"
            raise UserError(f"no usable frame for the calibration ({self.frames_seen} seen; "
                            f"not used: {why})")
        heading = self.array.heading_deg
        lever = np.zeros(3)
        hc = 0.0
        extra = {}
        self.time_offset_s = 0.0
        use_ground = ground is not None and ground is not False and \
            len(self.array.elements) > 1
        if use_ground and ground is True:
            from . import multipath
            ground = multipath.GroundModel(height_m=getattr(self.array, "ground_height_m", None))
        fit = None
        two_ray = None
        # the heading/time fit and the reflection fit alternate (block coordinate
        # descent): the geometry fit's grid search over the whole circle cannot carry
        # the reflection's parameters, and the two-ray least squares needs a geometry to
        # start from; each sees the other's latest estimate, until the geometry moves by
        # less than GEOMETRY_CONVERGED (docs/design.md, section 8)
        for it in range(self.MAX_ALTERNATIONS if joint and use_ground else 1):
            if joint:
                new = self.fit_geometry(fit_lever_arm=fit_lever_arm, until=until,
                                        two_ray=two_ray if two_ray is not None and
                                        two_ray.used else None,
                                        two_ray_geometry=(heading, lever, self.time_offset_s))
                moved = fit is None or \
                    abs(new["heading_correction_deg"] - hc) > self.GEOMETRY_CONVERGED[0] or \
                    abs(new["time_offset_s"] - self.time_offset_s) > self.GEOMETRY_CONVERGED[1]
                fit = new
                hc, lever = fit["heading_correction_deg"], fit["lever_arm_correction_m"]
                heading = self.array.heading_deg + hc
                self.time_offset_s = fit["time_offset_s"]
                if two_ray is not None and not moved:
                    break      # the reflection was fitted at this geometry: converged
            if not use_ground:
                break
            two_ray = self._fit_two_ray(heading, lever, until, ground)
            if not two_ray.used:
                if joint and it > 0:
                    # the term was dropped at the new geometry: the geometry is fitted
                    # again without the reflection it assumed
                    fit = self.fit_geometry(fit_lever_arm=fit_lever_arm, until=until)
                    hc, lever = fit["heading_correction_deg"], fit["lever_arm_correction_m"]
                    heading = self.array.heading_deg + hc
                    self.time_offset_s = fit["time_offset_s"]
                break          # no reflection: the geometry fit stands as it is
        if fit is not None:
            fit["alternations"] = it + 1
            extra = {"heading_std_deg": fit["heading_std_deg"],
                     "lever_arm_correction_m": list(map(float, lever)) if fit_lever_arm
                     else None,
                     "lever_arm_std_m": fit["lever_arm_std_m"],
                     "time_offset_s": fit["time_offset_s"],
                     "time_offset_std_s": fit["time_offset_std_s"], "fit": fit}
        ratio, _ = self.compensated(heading, lever, until)
        if two_ray is not None and two_ray.used:
            ratio = ratio / self.two_ray_correction(two_ray, heading, lever, until)
        out = []
        kept_any = np.zeros(ratio.shape[0], bool)
        for k, e in enumerate(self.array.elements):
            if e.id == self.array.reference:
                out.append(ElementOffset(e.id, e.channel, 1 + 0j, 0.0, 0.0, 0.0, 0.0,
                                         ratio.shape[0]))
                continue
            m, ps, as_, keep = robust_circular(ratio[:, k])
            kept_any |= keep
            out.append(ElementOffset(e.id, e.channel, complex(m), 20 * math.log10(abs(m)),
                                     math.degrees(np.angle(m)), math.degrees(ps), as_,
                                     int(keep.sum())))
        rej = rejected
        outliers = int(ratio.shape[0] - kept_any.sum()) if len(out) > 1 else 0
        if outliers:
            rej["outlier"] = outliers
        used = self.accepted - missing - (int(round(np.sum(self.t[:self.stored] > until) *
                                                    self.accepted / self.stored))
                                          if until is not None else 0)
        return OffsetResult(self.freq, self.array.reference, out, self.frames_seen,
                            used, rej, heading, hc, joint=joint, two_ray=two_ray, **extra)

    def _fit_two_ray(self, heading, lever, until, ground):
        """The two-ray fit (calibration.multipath) at this geometry, started from the
        LoS-only offsets."""
        from . import multipath
        ratio, _ = self.compensated(heading, lever, until)
        t, alpha, tx, snr = self.frames(until)
        tx = multipath.smooth_height(t, tx, ground.smooth_height_s)
        elem = self.array.element_enu(heading, lever)
        r = self.array.ref_index()
        eps0 = np.array([robust_circular(ratio[:, k])[0] if k != r else 1.0
                         for k in range(ratio.shape[1])])
        fit = multipath.fit_two_ray(alpha, tx, elem, self.lam, r, ground, snr, eps0=eps0)
        fit.smooth_height_s = ground.smooth_height_s
        if ground.height_m is None:
            fit.note += (f"; ground height not given: {fit.height_m:.3f} m fitted within "
                         f"{ground.height_bounds_m[0]:g}..{ground.height_bounds_m[1]:g} m")
        return fit

    def two_ray_correction(self, fit, heading_deg, lever_arm_m=None, until=None, t=None,
                           time_offset_s=None):
        """The two-ray factor relative to the reference element, (frames, elements): the
        compensated ratio of a frame divided by it is the offset alone. For the kept
        frames (frames(until)), or for times t at time_offset_s (frames without a
        position get 1)."""
        from . import multipath
        if t is None:
            t, _, tx, _ = self.frames(until)
        else:
            dt = self.time_offset_s if time_offset_s is None else time_offset_s
            tx = self._tx_at(np.asarray(t, float) + dt)
        ok = np.all(np.isfinite(tx), axis=1)
        f = np.ones((len(t), len(self.array.elements)), complex)
        if ok.any():
            txs = multipath.smooth_height(np.asarray(t)[ok], tx[ok], fit.smooth_height_s)
            elem = self.array.element_enu(heading_deg, lever_arm_m)
            g = multipath.two_ray_factor(txs, elem, self.lam, fit)
            f[ok] = g / g[:, [self.array.ref_index()]]
        return f

    def compensated_model(self, result, until=None):
        """Per-frame ratios after the model the result used: the LoS geometry at its
        heading (and lever arm), divided by its two-ray factor when that term was kept.
        Each column is then the element's offset plus what the model leaves (the
        verdict's residual, the report's figures)."""
        lever = np.array(result.lever_arm_correction_m) if result.lever_arm_correction_m \
            else None
        ratio, d = self.compensated(result.heading_deg, lever, until)
        tr = result.two_ray
        if tr is not None and tr.used:
            ratio = ratio / self.two_ray_correction(tr, result.heading_deg, lever, until)
        return ratio, d

    # the joint fit's search ranges and what "identified" means (docs/design.md)
    HEADING_SEARCH_DEG = 180.0      # the whole circle: a heading in radians is ~30 deg off
    TIME_SEARCH_S = 2.0             # a capture datetime or leap second off by up to 2 s
    HEADING_IDENTIFIED_DEG = 1.0    # a correction is used when its std is below these
    TIME_IDENTIFIED_S = 0.05
    # ... and when it explains at least this much of the residual phase (RMS): a
    # small "correction" may be the fit absorbing an unmodelled reflection, and with
    # few elements the heading trades against the offsets themselves
    MIN_EXPLAINED_DEG = 0.5
    # the heading is fitted only where it does not trade against the offsets: a
    # rotation moves each element's phase by g_f per degree, and the offset absorbs
    # g's mean, so a model error of e deg RMS becomes ~e * |mean g| / std g of offset
    # error. Around boresight (a narrow arc) that factor is 10 or more.
    MAX_HEADING_AMPLIFICATION = 3.0
    # beyond it the heading is fitted only when it explains a large residual (a real
    # compass error), and the verdict says the offsets hang on that correction
    MIN_EXPLAINED_ILL_DEG = 2.0
    # the geometry and reflection fits alternate until the heading moves by less than
    # 0.01 deg and the time offset by less than 1 ms (2 to 3 rounds on the simulated
    # campaigns), at most MAX_ALTERNATIONS geometry fits
    GEOMETRY_CONVERGED = (0.01, 1e-3)
    MAX_ALTERNATIONS = 4

    def fit_geometry(self, fit_lever_arm=False, fit_time=True, until=None, max_frames=4000,
                     two_ray=None, two_ray_geometry=None):
        """Heading correction, radio-to-GNSS time offset (and lever arm) that make the
        relative phases follow the geometry.

        The per-element constants are concentrated out: for a given geometry the
        best offset of element k is the circular mean of its compensated ratio, so
        the grid searches maximise sum_k |mean_f exp(j res_kf)|; a least-squares
        refinement over all parameters gives the uncertainties. A parameter the data
        do not identify (std above HEADING_IDENTIFIED_DEG / TIME_IDENTIFIED_S, e.g. a
        transmitter that never moves) is left at the file's value (correction 0).
        two_ray: a kept multipath.TwoRayFit, fitted at two_ray_geometry (heading_deg,
        lever arm, time offset): its phase is taken out of the measured phases, so the
        geometry is fitted to what the reflection leaves."""
        from scipy.optimize import least_squares
        saved = self.time_offset_s
        self.time_offset_s = 0.0
        try:
            t, alpha, _, _ = self.frames(until)
        finally:
            self.time_offset_s = saved
        r = self.array.ref_index()
        others = [k for k in range(alpha.shape[1]) if k != r]
        if not others:
            raise UserError("a single-element array has no relative geometry to fit")
        if len(t) > max_frames:
            pick = np.linspace(0, len(t) - 1, max_frames).astype(int)
            t, alpha = t[pick], alpha[pick]
        meas = np.angle(alpha / alpha[:, [r]])
        if two_ray is not None:
            h_tr, lev_tr, dt_tr = two_ray_geometry
            meas = meas - np.angle(self.two_ray_correction(two_ray, h_tr, lev_tr, t=t,
                                                           time_offset_s=dt_tr))
        grid_sel = np.linspace(0, len(t) - 1, min(len(t), 1500)).astype(int)
        # heading grid step: a fraction of the phase lobe width, which narrows as the
        # aperture (in wavelengths) grows
        pts = np.array([e.position_m for e in self.array.elements])
        aperture = max(1e-3, float(np.max(np.ptp(pts, axis=0)))) / self.lam
        h_step = float(np.clip(5.0 / aperture, 0.1, 2.0))

        def phases(hc, lever, dt, sel):
            tx = self._tx_at(t[sel] + dt)
            elem = self.array.element_enu(self.array.heading_deg + hc, lever)
            d, _, _ = geometry.los_geometry(tx, elem)
            return -2 * np.pi * (d - d[:, [r]]) / self.lam

        def coherence(hc, dt=0.0, lever=np.zeros(3), sel=grid_sel):
            ph = phases(hc, lever, dt, sel)
            ok = np.all(np.isfinite(ph), axis=1)
            if ok.sum() < 10:
                return -1.0
            res = meas[sel][ok] - ph[ok]
            return sum(abs(np.mean(np.exp(1j * res[:, k]))) for k in others)

        def best(values, f):
            c = [f(v) for v in values]
            return float(values[int(np.argmax(c))])

        # the cost is multimodal (phase wraps): grids, coarse to fine, then refine;
        # the time offset first (it does not move with the heading's lobes)
        def time_grid(h, center=0.0, span=None):
            span = self.TIME_SEARCH_S if span is None else span
            v = best(center + np.arange(-span, span + 1e-9, 0.02), lambda x: coherence(h, x))
            return best(v + np.arange(-0.02, 0.02001, 0.001), lambda x: coherence(h, x))

        dt0 = time_grid(0.0) if fit_time else 0.0
        g = (phases(0.01, np.zeros(3), dt0, grid_sel) - phases(0.0, np.zeros(3), dt0,
                                                               grid_sel)) / 0.01
        g = g[np.all(np.isfinite(g), axis=1)][:, others]
        amplification = float(np.max(np.abs(g.mean(axis=0)) / np.maximum(g.std(axis=0), 1e-12)))
        sensitivity = float(np.max(np.abs(g.mean(axis=0))))  # deg of offset per deg
        well_conditioned = amplification <= self.MAX_HEADING_AMPLIFICATION
        min_explained_h = self.MIN_EXPLAINED_DEG if well_conditioned else \
            self.MIN_EXPLAINED_ILL_DEG
        fit_heading = True
        h0 = 0.0
        if fit_heading:
            h0 = best(np.arange(-self.HEADING_SEARCH_DEG, self.HEADING_SEARCH_DEG, h_step),
                      lambda v: coherence(v, dt0))
            h0 = best(h0 + np.linspace(-h_step, h_step, 41), lambda v: coherence(v, dt0))
            if fit_time:
                dt0 = time_grid(h0, dt0, 0.2)
        nlev = 3 if fit_lever_arm else 0
        all_sel = np.arange(len(t))

        def unpack(p, free_h, free_t):
            i = 0
            hc = p[i] if free_h else 0.0
            i += free_h
            dt = p[i] if free_t else 0.0
            i += free_t
            lever = np.concatenate([p[i:i + nlev], np.zeros(3 - nlev)]) if nlev else np.zeros(3)
            return hc, dt, lever, p[i + nlev:]

        def solve(free_h, free_t):
            def residuals(p):
                hc, dt, lever, th = unpack(p, free_h, free_t)
                res = meas - phases(hc, lever, dt, all_sel)
                res = np.where(np.isfinite(res), res, 0.0)
                return np.concatenate([wrap(res[:, k] - th[j]) for j, k in enumerate(others)])
            h_start, t_start = (h0 if free_h else 0.0), (dt0 if free_t else 0.0)
            res0 = meas - phases(h_start, np.zeros(3), t_start, all_sel)
            theta0 = [np.angle(np.nanmean(np.exp(1j * res0[:, k]))) for k in others]
            p0 = np.concatenate([[h0] * free_h, [dt0] * free_t, np.zeros(nlev), theta0])
            scale = np.concatenate([[1.0] * free_h, [0.01] * free_t, np.full(nlev, 0.05),
                                    np.ones(len(others))])
            # forward differences with absolute steps (scipy's steps are relative to
            # the parameter, and vanish for a time offset near 0)
            step = np.concatenate([[1e-4] * free_h, [1e-4] * free_t, np.full(nlev, 1e-5),
                                   np.full(len(others), 1e-6)])

            def jac(p):
                f0 = residuals(p)
                cols = []
                for i, h in enumerate(step):
                    q = p.copy()
                    q[i] += h
                    cols.append(wrap(residuals(q) - f0) / h)
                return np.column_stack(cols)

            sol = least_squares(residuals, p0, jac=jac, x_scale=scale)
            J = sol.jac
            dof = max(1, J.shape[0] - J.shape[1])
            s2 = float(np.sum(sol.fun ** 2) / dof)
            try:
                std = np.sqrt(np.clip(np.diag(np.linalg.inv(J.T @ J) * s2), 0, None))
            except np.linalg.LinAlgError:
                std = np.full(J.shape[1], np.inf)
            return sol, std, s2

        def rms_deg(hc, dt, lever=np.zeros(3)):
            res = meas - phases(hc, lever, dt, all_sel)
            ok = np.all(np.isfinite(res), axis=1)
            res = res[ok]
            dev = [wrap(res[:, k] - np.angle(np.mean(np.exp(1j * res[:, k])))) for k in others]
            return math.degrees(math.sqrt(np.mean(np.square(dev))))

        free_h, free_t = fit_heading, bool(fit_time)
        for _ in range(4):
            sol, std, s2 = solve(free_h, free_t)
            h_std = float(std[0]) if free_h else None
            t_std = float(std[int(free_h)]) if free_t else None
            drop_h = free_h and not h_std < self.HEADING_IDENTIFIED_DEG
            drop_t = free_t and not t_std < self.TIME_IDENTIFIED_S
            if not (drop_h or drop_t):
                # model selection: keep a parameter only if it explains enough
                hc_, dt_, lev_, _ = unpack(sol.x, free_h, free_t)
                full = rms_deg(hc_, dt_, lev_)
                gain_h = math.sqrt(max(0.0, rms_deg(0.0, dt_, lev_) ** 2 - full ** 2))
                gain_t = math.sqrt(max(0.0, rms_deg(hc_, 0.0, lev_) ** 2 - full ** 2))
                drop_h = free_h and gain_h < min_explained_h
                drop_t = free_t and gain_t < self.MIN_EXPLAINED_DEG
                if not (drop_h or drop_t):
                    break
            free_h, free_t = free_h and not drop_h, free_t and not drop_t
        else:
            sol, std, s2 = solve(free_h, free_t)
        hc, dt, lever, _ = unpack(sol.x, free_h, free_t)
        i = int(free_h) + int(free_t)
        return {"heading_correction_deg": float(hc),
                "heading_std_deg": h_std if free_h else None,
                "heading_identified": free_h,
                "time_offset_s": float(dt),
                "time_offset_std_s": t_std if free_t else None,
                "time_identified": free_t,
                "lever_arm_correction_m": lever,
                "lever_arm_std_m": [float(x) for x in std[i:i + nlev]] if nlev else None,
                "phase_residual_deg": math.degrees(math.sqrt(s2)),
                "heading_amplification": amplification,
                "heading_well_conditioned": well_conditioned,
                "heading_sensitivity_deg_per_deg": sensitivity}

    def pattern_map(self, bins_deg=10.0, heading_deg=None):
        """The thesis's DoA map: per element and angle-of-arrival bin, the mean
        relative phase (deg), amplitude (dB) and count."""
        ratio, _ = self.compensated(heading_deg)
        aoa = self.angles_of_arrival(heading_deg)
        edges = np.arange(-180.0, 180.0 + bins_deg, bins_deg)
        idx = np.digitize(aoa, edges) - 1
        rows = []
        for b in range(len(edges) - 1):
            sel = idx == b
            if not sel.any():
                continue
            for k, e in enumerate(self.array.elements):
                z = ratio[sel, k]
                m = np.mean(z / np.abs(z))
                rows.append({"aoa_deg": float(edges[b] + bins_deg / 2), "element": e.id,
                             "phase_deg": float(np.degrees(np.angle(m))),
                             "amp_db": float(np.mean(20 * np.log10(np.abs(z)))),
                             "n": int(sel.sum())})
        return rows
