#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The paper's sensing experiments in simulation (Section IV-B/C).

BistaticLink: one BS-UE link of unsynchronised nodes over a multipath scene,
measured both ways in every slot (the bidirectional calibration pilots): the
downlink G and uplink H estimates carry the RF gains, the pair's timing
offset and its LO phase exactly as reciprocity.core models them.

sensing_story(): a static LoS at 300 m and a UAV at 365 m moving at -3.2 m/s,
35 dB weaker, 10 ns timing jitter and a frequency offset drifting up to
550 Hz; the uplink CSI sensed raw and after compensation with the offsets
that the per-slot ML-TLS calibration yields, each without and with MTI.

dynamic_tracking(): Fig. 9/10's dynamic scenario: BS nodes transmit jointly
to a moving UE; after a frame of calibration rounds (which also senses each
link's path) the coefficients are tracked from one-way uplink pilots, plain
(eqs. 30-33) or sensing-assisted (eqs. 36-39), every `pilot_period` slots.
"""

from dataclasses import dataclass, field

import numpy as np

from ..reciprocity import core as rc
from . import core as sc

C = sc.C


@dataclass
class BistaticLink:
    """One link BS -> UE (downlink) and back (uplink), slot by slot.

    paths: dicts {range_m, velocity_mps, gain_db}; comb pilots every `comb`
    subcarriers of `df` (K of them: k = 0..K-1 at spacing comb * df);
    tau[l] (s) the pair's timing offset d'_n - d_m, fo[l] (Hz) the one-way LO
    frequency offset nu_ue - nu_bs in slot l; snr_db the per-subcarrier SNR of
    a 0 dB path in each direction."""
    paths: list
    K: int = 400
    L: int = 256
    fc: float = 26e9
    df: float = 120e3
    comb: int = 4
    slot_s: float = 125e-6
    tau: np.ndarray = None
    fo: np.ndarray = None
    snr_db: float = 25.0
    seed: int = 1
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)
        g = self.rng.standard_normal(4) * 0.1 + 1
        ph = self.rng.uniform(-np.pi, np.pi, 4)
        self.t_bs, self.r_bs, self.t_ue, self.r_ue = g * np.exp(1j * ph)
        self.tau = np.zeros(self.L) if self.tau is None else np.asarray(self.tau, float)
        self.fo = np.zeros(self.L) if self.fo is None else np.asarray(self.fo, float)
        self.phi = 2 * np.pi * self.slot_s * np.cumsum(self.fo)   # one-way LO phase

    @property
    def spacing(self):
        """Spacing of the comb pilots: what sensing sees as the subcarrier spacing."""
        return self.comb * self.df

    def propagation(self):
        """The reciprocal channel h[k, l] (physical: phases of (fc + f_k) d(t) / c,
        including the range migration that eq. 37 neglects)."""
        f = np.arange(self.K)[:, None] * self.spacing
        t = np.arange(self.L)[None, :] * self.slot_s
        h = np.zeros((self.K, self.L), complex)
        for p in self.paths:
            d = p["range_m"] + p["velocity_mps"] * t
            h += 10 ** (p.get("gain_db", 0.0) / 20) * np.exp(-2j * np.pi * (self.fc + f) * d / C)
        return h

    def measure(self):
        """(G downlink, H uplink), each (K, L), with noise."""
        h = self.propagation()
        f = np.arange(self.K)[:, None] * self.spacing
        ramp = np.exp(-2j * np.pi * f * self.tau[None, :])
        lo = np.exp(1j * self.phi)[None, :]
        G = self.r_ue * self.t_bs * h / ramp / lo
        H = self.r_bs * self.t_ue * h * ramp * lo
        sigma = 10 ** (-self.snr_db / 20) / np.sqrt(2)
        noise = [sigma * (self.rng.standard_normal(h.shape) + 1j * self.rng.standard_normal(h.shape))
                 for _ in range(2)]
        return G + noise[0], H + noise[1]


def calibrate_slots(G, H, spacing):
    """Per-slot ML pair calibration (the reciprocity library's ml_pair on
    g = H / G): the pair delay tau[l] and coefficient c[l] of every slot."""
    g = H / G
    k = np.arange(G.shape[0])
    est = [rc.ml_pair(g[:, l], k, spacing) for l in range(G.shape[1])]
    return np.array([e[0] for e in est]), np.array([e[1] for e in est])


def _found(dets, truth, res_r, res_v):
    for d in dets:
        if abs(d["range_m"] - truth["range_m"]) <= res_r and \
                abs(d["velocity_mps"] - truth["velocity_mps"]) <= res_v:
            return d
    return None


def sensing_story(seed=1, L=256, K=400, snr_db=25.0, pfa=1e-6, max_targets=10):
    """The experiment's story as numbers. Returns a dict with the link, the
    truth, the offsets used and per case (raw / compensated, MTI off / on) the
    map, its axes, the detections, whether the UAV was found (within one
    resolution cell) and the LoS's Doppler concentration (the share of the
    LoS range bin's energy within +-1 velocity cell of its peak)."""
    los = {"range_m": 300.0, "velocity_mps": 0.0, "gain_db": 0.0}
    uav = {"range_m": 365.0, "velocity_mps": -3.2, "gain_db": -35.0}
    rng = np.random.default_rng(seed + 1000)
    tau = 4e-9 + 10e-9 * rng.standard_normal(L)                 # 10 ns timing jitter
    fo = np.linspace(0.0, 550.0, L)                              # drifting up to 550 Hz
    link = BistaticLink([los, uav], K=K, L=L, tau=tau, fo=fo, snr_db=snr_db, seed=seed)
    G, H = link.measure()
    tau_pair, c_pair = calibrate_slots(G, H, link.spacing)
    tau_hat, fo_hat = sc.offsets_from_calibration(tau_pair, c_pair, link.slot_s, "ul")
    args = (link.spacing, link.slot_s, link.fc)
    res_r = C / (K * link.spacing)
    res_v = (C / link.fc) / (L * link.slot_s)
    cases = {}
    for name, X in (("raw", H), ("compensated", sc.compensate(H, tau_hat, fo_hat, *args[:2]))):
        for mti in (False, True):
            power, r, v = sc.range_doppler(X, *args, mti=mti)
            dets = sc.detect(X, *args, mti=mti, pfa=pfa, max_targets=max_targets)
            i = int(np.argmin(np.abs(r - los["range_m"])))
            row = power[i]
            j = int(np.argmax(row))
            near = row[[(j + d) % L for d in (-1, 0, 1)]].sum()
            cases[(name, mti)] = {
                "power": power, "range_m": r, "velocity_mps": v, "detections": dets,
                "uav": _found(dets, uav, res_r, res_v), "los": _found(dets, los, res_r, res_v),
                "los_concentration": float(near / row.sum())}
    return {"link": link, "los": los, "uav": uav, "cases": cases,
            "tau_error_s": float(np.std(tau_hat - tau)),
            "fo_error_hz": float(np.sqrt(np.mean((fo_hat[1:] - fo[1:]) ** 2))),
            "resolution": (res_r, res_v)}


# ---------------------------------------------------------------- dynamic scenario
@dataclass
class DynamicScene:
    """M BS nodes and one UE moving in a straight line (Fig. 9/10 set-up).

    Each BS-UE link: one LoS path (the BS-UE distance), its own timing offset
    and a one-way LO frequency offset that drifts linearly; comb pilots
    k = 0..K-1 at `spacing`, one slot every slot_s."""
    M: int = 4
    K: int = 64
    fc: float = 26e9
    spacing: float = 480e3
    slot_s: float = 125e-6
    speed_mps: float = 3.0
    snr_db: float = 20.0
    freq_hz: float = 200.0          # one-way LO offsets U(-f, f)
    drift_hz_s: float = 1000.0      # their drift, +-
    seed: int = 1

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        ang = 2 * np.pi * (np.arange(self.M) + rng.uniform(0, 1, self.M)) / self.M
        self.bs = np.c_[np.cos(ang), np.sin(ang)] * rng.uniform(180, 260, self.M)[:, None]
        head = rng.uniform(0, 2 * np.pi)
        self.ue0 = rng.uniform(-10, 10, 2)
        self.vel = self.speed_mps * np.array([np.cos(head), np.sin(head)])
        self.amp = (1 + 0.1 * rng.standard_normal(self.M)) * np.exp(1j * rng.uniform(-np.pi, np.pi, self.M))
        self.c = (1 + 0.1 * rng.standard_normal(self.M)) * np.exp(1j * rng.uniform(-np.pi, np.pi, self.M))
        self.tau = rng.uniform(-10e-9, 10e-9, self.M)
        self.nu = rng.uniform(-self.freq_hz, self.freq_hz, self.M)
        self.drift = rng.choice([-1.0, 1.0], self.M) * self.drift_hz_s
        self.rng = rng

    def distance(self, slot):
        t = slot * self.slot_s
        return np.linalg.norm(self.ue0 + self.vel * t - self.bs, axis=1)

    def lo_phase(self, slot):
        t = slot * self.slot_s
        return 2 * np.pi * (self.nu * t + 0.5 * self.drift * t * t)

    def slot(self, slot, noise=True):
        """(G, H) of every link at one slot, each (M, K): downlink and uplink."""
        f = np.arange(self.K)[None, :] * self.spacing
        d = self.distance(slot)[:, None]
        h = self.amp[:, None] * np.exp(-2j * np.pi * (self.fc + f) * d / C)
        ramp = np.exp(-2j * np.pi * f * self.tau[:, None])
        lo = np.exp(1j * self.lo_phase(slot))[:, None]
        # G = H / g with g = c exp(j 2 phi) ramp^2: uplink carries c, ramp and phi
        H = np.sqrt(self.c)[:, None] * h * ramp * lo
        G = h / np.sqrt(self.c)[:, None] / ramp / lo
        if noise:
            s = 10 ** (-self.snr_db / 20) / np.sqrt(2)
            G = G + s * (self.rng.standard_normal(G.shape) + 1j * self.rng.standard_normal(G.shape))
            H = H + s * (self.rng.standard_normal(H.shape) + 1j * self.rng.standard_normal(H.shape))
        return G, H


def coherent_gain_db(G_true, G_hat):
    """Joint transmission with a phase-only precoder from the predicted downlink
    G_hat (M, K): received power over the mean single-node power, dB."""
    w = np.conj(G_hat) / np.maximum(np.abs(G_hat), 1e-300)
    got = np.mean(np.abs(np.sum(G_true * w, axis=0)) ** 2)
    return float(10 * np.log10(got / np.mean(np.abs(G_true) ** 2)))


def dynamic_tracking(seed=1, frame=128, slots=400, pilot_periods=(1, 10), scene=None):
    """Coherent gain over time with the coefficients tracked from one-way pilots.

    Slots 0..frame-1: bidirectional calibration rounds; their ML pair delays
    and coefficients compensate each link's uplink CSI, which is sensed
    (detect, no MTI: the LoS is the moving UE) for its path length and rate,
    and the coefficients' slope gives the trackers' initial LO frequency.
    Then for `slots` slots only one-way uplink pilots, every pilot_period slots.
    The downlink each slot is predicted from the last calibration round
    (t0): G(t) = H(t) / g(t) = G(t0) exp(j (psi - theta)), with theta the
    one-way LO phase change and psi the propagation phase change. Plain
    tracking sees psi + theta in its pilots and takes it all for theta;
    sensing-assisted tracking removes psi predicted from the sensed path.

    Returns dict: time_s (slots after t0), ideal_db (per slot), and per method
    a gain array: "calibration every slot" (bidirectional rounds throughout),
    "no tracking" (frozen at t0), f"plain 1/{P}", f"sensing-assisted 1/{P}"."""
    sc_ = DynamicScene(seed=seed) if scene is None else scene
    k = np.arange(sc_.K)
    rounds = [sc_.slot(l) for l in range(frame)]
    G0 = np.array([r[0] for r in rounds])          # (L, M, K)
    H0 = np.array([r[1] for r in rounds])
    paths, freq0, c_last = [], np.zeros(sc_.M), np.zeros(sc_.M, complex)
    for m in range(sc_.M):
        tau_p, c_p = calibrate_slots(G0[:, m].T, H0[:, m].T, sc_.spacing)
        tau_s, fo_s = sc.offsets_from_calibration(tau_p, c_p, sc_.slot_s, "ul")
        Hc = sc.compensate(H0[:, m].T, tau_s, fo_s, sc_.spacing, sc_.slot_s)
        dets = sc.detect(Hc, sc_.spacing, sc_.slot_s, sc_.fc, mti=False, max_targets=1)
        if not dets:
            raise sc.SensingError(f"link {m}: nothing sensed in the calibration frame")
        paths.append(dets[:1])
        half = frame // 2
        freq0[m] = rc.frequency_offsets(c_p[half:, None], sc_.slot_s)[0]
        c_last[m] = c_p[-1]
    l0 = frame - 1
    G_ref, H_ref = G0[l0], H0[l0]
    trackers = {}
    for P in pilot_periods:
        for assisted in (False, True):
            trackers[(P, assisted)] = rc.PhaseTracker(c_last, np.zeros(sc_.M), l0 * sc_.slot_s,
                                                      freq0_hz=freq0, sensing_assisted=assisted)
    names = {("calibration every slot",): [], ("no tracking",): []}
    for P in pilot_periods:
        names[("plain", P)] = []
        names[("assisted", P)] = []
    ideal = []
    for step in range(1, slots + 1):
        l = l0 + step
        t = l * sc_.slot_s
        G_true, _ = sc_.slot(l, noise=False)
        G_meas, H_meas = sc_.slot(l)
        ideal.append(coherent_gain_db(G_true, G_true))
        names[("calibration every slot",)].append(coherent_gain_db(G_true, G_meas))
        names[("no tracking",)].append(coherent_gain_db(G_true, G_ref))
        psi_hat = np.array([sc.channel_phase_change(paths[m], l, l0, sc_.spacing, sc_.slot_s,
                                                    sc_.fc, k) for m in range(sc_.M)])
        for P in pilot_periods:
            if step % P == 0:
                ph = rc.pilot_phase(H_meas, H_ref)
                trackers[(P, False)].update(t, ph)
                trackers[(P, True)].update(t, ph, channel_phase=psi_hat)
            theta_plain = trackers[(P, False)].one_way_phase(t)
            theta_lo = trackers[(P, True)].one_way_phase(t)
            names[("plain", P)].append(
                coherent_gain_db(G_true, G_ref * np.exp(-1j * theta_plain)[:, None]))
            names[("assisted", P)].append(
                coherent_gain_db(G_true, G_ref * np.exp(1j * (psi_hat - theta_lo))[:, None]))
    out = {"time_s": np.arange(1, slots + 1) * sc_.slot_s, "ideal_db": np.array(ideal),
           "paths": paths, "scene": sc_, "frame": frame}
    for key, v in names.items():
        if key[0] == "plain":
            label = f"plain 1/{key[1]}"
        elif key[0] == "assisted":
            label = f"sensing-assisted 1/{key[1]}"
        else:
            label = key[0]
        out[label] = np.array(v)
    return out
