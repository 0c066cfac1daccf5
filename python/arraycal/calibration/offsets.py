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

    @classmethod
    def from_frames(cls, array, freq_hz, t, alpha, tx, snr):
        """An estimator holding saved frames (frames.npz), for reports."""
        est = cls(array, freq_hz, None, max_frames=max(1, len(t)))
        n = len(t)
        est.t[:n], est.alpha[:n], est.tx[:n], est.snr[:n] = t, alpha, tx, snr
        est.stored = est.accepted = est.frames_seen = n
        est._version += 1
        est._cache = ((est._version, id(None), id(None), None), (t, alpha, tx, snr))
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
        key = (self._version, id(self.tx_track), id(self.rx_track), until)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        n = self.stored
        t = self.t[:n]
        if self.tx_track is None:
            raise UserError("no transmitter track to locate the frames with")
        tx = self.tx_track.at(t) + self.tx_offset
        rx = self.rx_track.at(t) if self.rx_track is not None else self.rx_origin
        tx = tx - rx
        ok = np.all(np.isfinite(tx), axis=1)
        if until is not None:
            ok &= t <= until
        order = np.argsort(t[ok])
        idx = np.flatnonzero(ok)[order]
        out = (t[idx], self.alpha[:n][idx], tx[idx], self.snr[:n][idx])
        self._cache = (key, out)
        return out

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
    def estimate(self, joint=False, fit_lever_arm=False, until=None):
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
        if joint:
            fit = self.fit_geometry(fit_lever_arm=fit_lever_arm)
            hc, lever = fit["heading_correction_deg"], fit["lever_arm_correction_m"]
            heading = self.array.heading_deg + hc
            extra = {"heading_std_deg": fit["heading_std_deg"],
                     "lever_arm_correction_m": list(map(float, lever)),
                     "lever_arm_std_m": fit["lever_arm_std_m"]}
        ratio, _ = self.compensated(heading, lever, until)
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
                            used, rej, heading, hc, joint=joint, **extra)

    def fit_geometry(self, fit_lever_arm=False, search_deg=15.0):
        """Heading (and lever arm) correction that makes the relative phases follow
        the geometry. The per-element constants are concentrated out: for a given
        geometry the best offset of element k is the circular mean of its
        compensated ratio, so the cost is -sum_k |mean_f exp(j arg ratio_kf)|."""
        from scipy.optimize import least_squares
        t, alpha, tx, _ = self.frames()
        r = self.array.ref_index()
        meas = np.angle(alpha / alpha[:, [r]])
        others = [k for k in range(alpha.shape[1]) if k != r]
        if not others:
            raise UserError("a single-element array has no relative geometry to fit")

        def phases(hc, lever):
            elem = self.array.element_enu(self.array.heading_deg + hc, lever)
            d, _, _ = geometry.los_geometry(tx, elem)
            return -2 * np.pi * (d - d[:, [r]]) / self.lam

        def coherence(hc, lever=np.zeros(3)):
            res = meas - phases(hc, lever)
            return sum(abs(np.mean(np.exp(1j * res[:, k]))) for k in others)

        # the cost is multimodal in the heading (phase wraps): grid, then refine
        grid = np.arange(-search_deg, search_deg + 1e-9, 0.1)
        h0 = grid[int(np.argmax([coherence(h) for h in grid]))]
        res0 = meas - phases(h0, np.zeros(3))
        theta0 = [np.angle(np.mean(np.exp(1j * res0[:, k]))) for k in others]
        nlev = 3 if fit_lever_arm else 0

        def residuals(p):
            hc = p[0]
            lever = np.concatenate([p[1:1 + nlev], np.zeros(3 - nlev)]) if nlev else np.zeros(3)
            th = p[1 + nlev:]
            res = meas - phases(hc, lever)
            return np.concatenate([wrap(res[:, k] - th[i]) for i, k in enumerate(others)])

        p0 = np.concatenate([[h0], np.zeros(nlev), theta0])
        sol = least_squares(residuals, p0, x_scale=np.concatenate(
            [[1.0], np.full(nlev, 0.05), np.ones(len(others))]))
        J = sol.jac
        dof = max(1, J.shape[0] - J.shape[1])
        s2 = float(np.sum(sol.fun ** 2) / dof)
        try:
            cov = np.linalg.inv(J.T @ J) * s2
            std = np.sqrt(np.clip(np.diag(cov), 0, None))
        except np.linalg.LinAlgError:
            std = np.full(J.shape[1], np.nan)
        lever = np.concatenate([sol.x[1:1 + nlev], np.zeros(3 - nlev)])
        return {"heading_correction_deg": float(sol.x[0]),
                "heading_std_deg": float(std[0]),
                "lever_arm_correction_m": lever,
                "lever_arm_std_m": [float(s) for s in std[1:1 + nlev]] if nlev else None,
                "phase_residual_deg": math.degrees(math.sqrt(s2))}

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
