#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Reciprocity calibration of distributed transmit/receive points (Jiang et al.).

Nodes: M base-station nodes (TRPs) and N user nodes, each with its own LO,
transmit gain t and receive gain r. Over a reciprocal propagation channel h,
the downlink estimate (BS m -> UE n) is G = r'_n h t_m e^{-j2pi f (d_m - d'_n)}
and the uplink estimate H = r_m h t'_n e^{-j2pi f (d'_n - d_m)}, with timing
offsets d. Their ratio, the equivalent channel (paper eqs. 21/23),

    g[m, n, i] = H / G = c_pair[m, n] exp(-j 4 pi s_i df tau[m, n]) + noise,
    c_pair[m, n] = c_ue[n] / c_bs[m],   c = t / r  (eq. 26),   tau = d'_n - d_m,

is what calibration works on (s_i: subcarrier indices, df: spacing). The
coefficients have an arbitrary common scale and phase.

Estimators:
  ml_tls     two-step ML-TLS (eqs. 20-29): per pair the ML delay and
             coefficient (maximise |phi(tau)^H g|^2, FFT grid then Newton
             on the derivative), then c_bs and c_ue together as the TLS solution
             (smallest eigenvector) of c_bs[m] c_pair[m, n] - c_ue[n] = 0.
  argos      Argos (eq. 13) with one reference UE: ratio of subcarrier means.
  argos_mean the same, averaged over all UEs (relative to a reference BS).
  tls        TLS over all pairs and subcarriers of c_bs H - c_ue G = 0
             (eqs. 14-16).
The baselines ignore the timing ramp: exact without timing offsets, degraded
with them; ML-TLS estimates it.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError

C = 299792458.0


# ---------------------------------------------------------------- checks
def _check_pair_array(name, a, shape=None):
    a = np.asarray(a)
    if a.ndim != 3:
        raise UserError(f"{name} must have shape (M, N, K) (BS nodes, UE nodes, subcarriers); "
                        f"got {a.shape}")
    if shape is not None and a.shape != shape:
        raise UserError(f"{name} has shape {a.shape}, expected {shape}")
    if not np.all(np.isfinite(a)):
        raise UserError(f"{name} contains NaN or Inf")
    return a.astype(np.complex128)


def _check_signal(name, a):
    power = np.mean(np.abs(a) ** 2, axis=2)
    dead_bs = np.flatnonzero(np.all(power == 0, axis=1))
    dead_ue = np.flatnonzero(np.all(power == 0, axis=0))
    if dead_bs.size or dead_ue.size:
        who = [f"BS node {m}" for m in dead_bs] + [f"UE node {n}" for n in dead_ue]
        raise UserError(f"{name}: no signal from {', '.join(who)}; it cannot be calibrated")
    if np.any(power == 0):
        m, n = np.argwhere(power == 0)[0]
        raise UserError(f"{name}: no signal on the link BS {m} - UE {n}")


def _check_links(G, H):
    """Downlink and uplink estimates of the same shape, finite, every link alive."""
    G = _check_pair_array("G (downlink)", G)
    H = _check_pair_array("H (uplink)", H, G.shape)
    _check_signal("G (downlink)", G)
    _check_signal("H (uplink)", H)
    return G, H


def equivalent_channel(G, H):
    """g = H / G, with checks (the link must carry signal both ways)."""
    G, H = _check_links(G, H)
    if np.any(G == 0):
        raise UserError("G (downlink) has zero entries: the ratio H/G is undefined there")
    return H / G


# ---------------------------------------------------------------- ML-TLS
@dataclass
class Calibration:
    c_bs: np.ndarray
    c_ue: np.ndarray
    tau: np.ndarray = None
    c_pair: np.ndarray = None
    method: str = ""

    def relative(self, ref_bs=0):
        """Coefficients with c_bs[ref] = 1 (the common factor removed)."""
        s = 1.0 / self.c_bs[ref_bs]
        return self.c_bs * s, self.c_ue * s


def _phi(subcarriers, df, tau):
    return np.exp(-4j * np.pi * np.asarray(subcarriers, float) * df * tau)


def ml_pair(g_mn, subcarriers, df, oversample=16):
    """ML delay and coefficient of one pair (eq. 25a/b): maximise F(tau) = |phi(tau)^H g|^2.

    Coarse search on an FFT grid of the two-way delay, then a safeguarded Newton
    iteration on F'(tau) = 0 inside the grid cell: converges to the exact
    stationary point (a golden section on F itself stalls at sqrt(eps)).
    Returns (tau, c)."""
    s = np.asarray(subcarriers, float)
    g_mn = np.asarray(g_mn, complex)
    K = len(s)
    w = 4 * np.pi * s * df                       # phi_i = exp(-j w_i tau)
    steps = np.diff(s)
    if K > 1 and np.allclose(steps, steps[0]) and steps[0] > 0:
        step = steps[0]
        nfft = int(2 ** math.ceil(math.log2(max(2, K * oversample))))
        # phi^H g = e^{j w_0 tau} sum_i g_i e^{j 2pi i (2 step df tau)}: an inverse DFT
        spec = np.fft.ifft(g_mn, nfft)
        k = int(np.argmax(np.abs(spec)))
        period = 1.0 / (2 * step * df)           # the delay is only known modulo this
        tau0 = k / nfft * period
        if tau0 > period / 2:
            tau0 -= period
        cell = period / nfft
    else:
        # irregular pilots: dense grid over the unambiguous two-way span
        span = 1.0 / (2 * df * max(1.0, np.min(np.abs(steps))) if K > 1 else 2 * df)
        grid = np.linspace(-span / 2, span / 2, 8 * K * oversample, endpoint=False)
        vals = np.abs(np.exp(1j * np.outer(grid, w)) @ g_mn)
        tau0 = grid[int(np.argmax(vals))]
        cell = grid[1] - grid[0]

    def derivs(t):
        e = g_mn * np.exp(1j * w * t)
        a, a1, a2 = e.sum(), (1j * w * e).sum(), (-(w * w) * e).sum()
        return 2 * np.real(np.conj(a) * a1), 2 * np.real(np.conj(a1) * a1 + np.conj(a) * a2)

    lo, hi = tau0 - cell, tau0 + cell
    d_lo, d_hi = derivs(lo)[0], derivs(hi)[0]
    t = tau0
    if d_lo > 0 > d_hi:                          # bracketed maximum: Newton, bisection fallback
        for _ in range(60):
            d1, d2 = derivs(t)
            if d1 == 0:
                break
            if d1 > 0:
                lo = t
            else:
                hi = t
            t_new = t - d1 / d2 if d2 < 0 else 0.5 * (lo + hi)
            if not lo < t_new < hi:
                t_new = 0.5 * (lo + hi)
            if abs(t_new - t) <= 1e-15 * max(cell, abs(t)):
                t = t_new
                break
            t = t_new
    c = np.vdot(_phi(s, df, t), g_mn) / K
    return t, c


def tls_from_pairs(c_pair, weights=None):
    """c_bs, c_ue from pair coefficients: smallest eigenvector of A^H A (eqs. 27-29),
    rows c_pair[m, n] x_m - x_{M+n} = 0."""
    M, N = c_pair.shape
    w = np.ones((M, N)) if weights is None else np.asarray(weights, float)
    A = np.zeros((M * N, M + N), complex)
    for m in range(M):
        for n in range(N):
            r = m * N + n
            A[r, m] = w[m, n] * c_pair[m, n]
            A[r, M + n] = -w[m, n]
    # eigenvector of the smallest eigenvalue of A^H A (numpy sorts ascending)
    vals, vecs = np.linalg.eigh(A.conj().T @ A)
    x = vecs[:, 0]
    return x[:M], x[M:]


def ml_tls(g, subcarrier_spacing, subcarriers=None):
    """Two-step ML-TLS. g: (M, N, K) equivalent channel. Returns a Calibration with
    c_bs (M), c_ue (N), tau (M, N) and c_pair (M, N); common scale and phase arbitrary."""
    g = _check_pair_array("g", g)
    M, N, K = g.shape
    if K < 2:
        raise UserError("ML-TLS needs at least 2 subcarriers per link")
    if not subcarrier_spacing > 0:
        raise UserError("subcarrier spacing must be > 0")
    s = np.arange(K) if subcarriers is None else np.asarray(subcarriers)
    if s.shape != (K,):
        raise UserError(f"subcarriers has {s.size} entries, g has {K} per link")
    _check_signal("g", g)
    tau = np.zeros((M, N))
    c_pair = np.zeros((M, N), complex)
    for m in range(M):
        for n in range(N):
            tau[m, n], c_pair[m, n] = ml_pair(g[m, n], s, subcarrier_spacing)
    c_bs, c_ue = tls_from_pairs(c_pair)
    return Calibration(c_bs, c_ue, tau, c_pair, "ml-tls")


# ---------------------------------------------------------------- baselines
def argos(G, H, ref_ue=0):
    """Argos (eq. 13): ratio of subcarrier means with one reference UE.
    c_bs[m] ~ mean(G[m, ref]) / mean(H[m, ref]); c_ue[n] through BS 0."""
    equivalent_channel(G, H)                             # the same checks as ML-TLS gets
    G = np.asarray(G, complex)
    H = np.asarray(H, complex)
    c_bs = np.mean(G[:, ref_ue], axis=1) / np.mean(H[:, ref_ue], axis=1)  # 1 / c_pair = c_bs/c_ue
    c_ue = (np.mean(H[0], axis=1) / np.mean(G[0], axis=1)) * c_bs[0]
    return Calibration(c_bs, c_ue, None, None, "argos")


def argos_mean(G, H):
    """Argos averaged over all UEs: pair ratios of means, each UE's estimate of the
    BS coefficients aligned to BS 0, then averaged."""
    equivalent_channel(G, H)                             # the same checks as ML-TLS gets
    G = np.asarray(G, complex)
    H = np.asarray(H, complex)
    pair = np.mean(H, axis=2) / np.mean(G, axis=2)       # ~ c_ue[n] / c_bs[m]
    M, N = pair.shape
    c_bs = np.zeros(M, complex)
    for n in range(N):
        est = pair[0, n] / pair[:, n]                    # c_bs[m] / c_bs[0]
        c_bs += est
    c_bs /= N
    c_ue = np.mean(pair * c_bs[:, None], axis=0)
    return Calibration(c_bs, c_ue, None, pair, "argos-mean")


def tls(G, H):
    """TLS over all pairs and subcarriers (eqs. 14-16): c_bs[m] H - c_ue[n] G = 0."""
    G, H = _check_links(G, H)
    M, N, K = G.shape
    AhA = np.zeros((M + N, M + N), complex)
    for m in range(M):
        for n in range(N):
            h, gg = H[m, n], G[m, n]
            # rows [.. H_i at m .., -G_i at M+n]: accumulate A^H A directly
            AhA[m, m] += np.vdot(h, h)
            AhA[M + n, M + n] += np.vdot(gg, gg)
            AhA[m, M + n] -= np.vdot(h, gg)
            AhA[M + n, m] -= np.vdot(gg, h)
    vals, vecs = np.linalg.eigh(AhA)
    x = vecs[:, 0]
    return Calibration(x[:M], x[M:], None, None, "tls")


# ---------------------------------------------------------------- metrics
def phase_errors_deg(est, truth_bs, truth_ue=None, ref_bs=0):
    """Phase errors of the relative BS (and UE) coefficients, degrees."""
    e_bs, e_ue = est.relative(ref_bs)
    t_bs = np.asarray(truth_bs) / truth_bs[ref_bs]
    err = list(np.degrees(np.angle(e_bs / t_bs)))
    if truth_ue is not None:
        t_ue = np.asarray(truth_ue) / truth_bs[ref_bs]
        err += list(np.degrees(np.angle(e_ue / t_ue)))
    return np.array(err)


def downlink_from_uplink(est, H_meas, subcarriers, df):
    """Downlink channel predicted from uplink CSI and a calibration:
    G_hat[m, n, i] = H[m, n, i] c_bs[m] / c_ue[n], and where the calibration
    carries pair delays (ML-TLS) the two-way timing ramp is undone too."""
    H_meas = np.asarray(H_meas, complex)
    G_hat = H_meas * (est.c_bs[:, None, None] / est.c_ue[None, :, None])
    if est.tau is not None:
        s = np.asarray(subcarriers, float)
        G_hat = G_hat * np.exp(4j * np.pi * s[None, None, :] * df * est.tau[:, :, None])
    return G_hat


def beamforming_gain_db(est, G_true, H_meas, subcarriers, df):
    """Coherent joint transmission from all M BS nodes to each UE with a
    phase-only, equal-power precoder built from uplink CSI and the calibration.
    Returns (achieved, ideal): array gain in dB over the mean single-node power,
    averaged over UEs and subcarriers. Every node transmits at full power, so
    with equal path amplitudes the ideal is 20 log10(M) (M^2: coherent sum of
    M nodes) and random phases give about 10 log10(M) (non-coherent)."""
    G_true = np.asarray(G_true, complex)
    G_hat = downlink_from_uplink(est, H_meas, subcarriers, df)
    w = np.conj(G_hat) / np.maximum(np.abs(G_hat), 1e-300)
    single = np.mean(np.abs(G_true) ** 2, axis=0)                  # (N, K)
    achieved = np.abs(np.sum(G_true * w, axis=0)) ** 2 / single
    ideal = np.sum(np.abs(G_true), axis=0) ** 2 / single
    return 10 * np.log10(np.mean(achieved)), 10 * np.log10(np.mean(ideal))


def crlb_phase_deg(c_bs, c_ue, tau, subcarriers, df, noise_var, ref_bs=0):
    """Cramer-Rao bound (deg) of the relative BS coefficient phases for the g-model
    with complex Gaussian noise: unknown log-amplitudes and phases of c_bs
    (c_bs[ref] fixed) and c_ue, and all pair delays."""
    M, N = len(c_bs), len(c_ue)
    s = np.asarray(subcarriers, float)
    K = len(s)
    bs_idx = [m for m in range(M) if m != ref_bs]
    nparam = 2 * len(bs_idx) + 2 * N + M * N
    J = np.zeros((M * N * K, nparam), complex)
    for m in range(M):
        for n in range(N):
            mu = (c_ue[n] / c_bs[m]) * np.exp(-4j * np.pi * s * df * tau[m, n])
            rows = slice((m * N + n) * K, (m * N + n + 1) * K)
            if m != ref_bs:
                j = bs_idx.index(m)
                J[rows, j] = -mu                          # log-amplitude of c_bs[m]
                J[rows, len(bs_idx) + j] = -1j * mu       # phase of c_bs[m]
            off = 2 * len(bs_idx)
            J[rows, off + n] = mu                         # log-amplitude of c_ue[n]
            J[rows, off + N + n] = 1j * mu                # phase of c_ue[n]
            J[rows, off + 2 * N + m * N + n] = -4j * np.pi * s * df * mu
    F = 2.0 / noise_var * np.real(J.conj().T @ J)
    cov = np.linalg.inv(F)
    var = np.diag(cov)[len(bs_idx):2 * len(bs_idx)]
    return np.degrees(np.sqrt(var))


# ---------------------------------------------------------------- tracking
class PhaseTracker:
    """Calibration coefficient tracking from one-way pilots (eqs. 30-33).

    After calibration at t0 the LOs keep drifting: the coefficient of a pair
    turns at twice the one-way phase drift that SRS (uplink) or CSI-RS
    (downlink) pilots observe, c(t) = c(t0) exp(j 2 (phi(t) - phi(t0))).
    Each pilot's phase is compared with the prediction from the last state
    (phase and frequency offset); the wrapped innovation corrects both with
    gains alpha and beta (an alpha-beta tracking loop; alpha = beta = 1 is the
    plain difference of the last two pilots). Between pilots the phase is
    extrapolated with the frequency estimate.

    The loop starts without a frequency estimate, so the first innovation is
    the whole phase step since calibration: it wraps, and the loop locks onto
    an alias, once |nu| T_p > 1/2, i.e. when the pilot rate is below twice
    the frequency offset (Nyquist). Once locked it follows a drift.

    c0: coefficients at calibration (any shape, e.g. c_pair (M, N));
    phase0: the one-way pilot phases at calibration (same shape), radians.

    Sensing-assisted tracking (eqs. 36-39; sensing_assisted=True, default
    off): in a dynamic scene the one-way pilot phase is the LO drift plus the
    propagation phase of the moving paths, which the plain loop takes for LO
    drift (the coefficient then turns with the motion) and which aliases once
    LO and Doppler together exceed half the pilot rate. Each update then also
    takes channel_phase, the propagation phase change since calibration
    predicted from the sensed paths (sensing.channel_phase_change, eq. 37),
    and tracks only what remains: the LO. one_way_phase() and coefficient()
    are then the LO's; the uplink channel is the calibration's times
    exp(j (one_way_phase - phase0 + channel_phase))."""

    def __init__(self, c0, phase0, t0=0.0, ratio=2.0, alpha=0.5, beta=None, freq0_hz=None,
                 sensing_assisted=False):
        self.c0 = np.asarray(c0, complex)
        self.phase0 = np.asarray(phase0, float)
        if self.phase0.shape != self.c0.shape:
            raise UserError(f"pilot phases have shape {self.phase0.shape}, "
                            f"coefficients {self.c0.shape}")
        if not 0 < alpha <= 1:
            raise UserError(f"tracking gain alpha must be in (0, 1], not {alpha}")
        self.alpha = float(alpha)
        # critically damped default (Kalata): beta = alpha^2 / (2 - alpha)
        self.beta = self.alpha ** 2 / (2 - self.alpha) if beta is None else float(beta)
        self.ratio = ratio
        self.t_last = float(t0)
        self.phase = self.phase0.copy()          # unwrapped one-way phase at t_last
        self.freq_hz = np.zeros_like(self.phase0) if freq0_hz is None else \
            np.broadcast_to(np.asarray(freq0_hz, float), self.phase0.shape).copy()
        self.pilots = 0
        self.sensing_assisted = bool(sensing_assisted)

    def update(self, t, one_way_phase, channel_phase=None):
        """A pilot at time t (seconds) with its measured one-way phases (radians);
        sensing-assisted: with the predicted propagation phase change since
        calibration (radians, same shape), which is removed first."""
        ph = np.asarray(one_way_phase, float)
        if ph.shape != self.phase.shape or not np.all(np.isfinite(ph)):
            raise UserError(f"pilot phases must be finite with shape {self.phase.shape}")
        if self.sensing_assisted:
            if channel_phase is None:
                raise UserError("sensing-assisted tracking needs the predicted channel phase "
                                "of every pilot")
            cp = np.broadcast_to(np.asarray(channel_phase, float), ph.shape)
            if not np.all(np.isfinite(cp)):
                raise UserError("predicted channel phase must be finite")
            ph = ph - cp
        elif channel_phase is not None:
            raise UserError("channel_phase given but sensing-assisted tracking is off")
        dt = float(t) - self.t_last
        if not dt > 0:
            raise UserError(f"pilot at t={t} is not after the previous one ({self.t_last})")
        predicted = self.phase + 2 * np.pi * self.freq_hz * dt
        innovation = np.angle(np.exp(1j * (ph - predicted)))   # wrapped into (-pi, pi]
        if self.pilots == 0:
            # the first pilot: no frequency yet, take the whole (wrapped) step
            self.phase = predicted + innovation
            self.freq_hz = self.freq_hz + innovation / (2 * np.pi * dt)
        else:
            self.phase = predicted + self.alpha * innovation
            self.freq_hz = self.freq_hz + self.beta * innovation / (2 * np.pi * dt)
        self.t_last = float(t)
        self.pilots += 1

    def one_way_phase(self, t):
        return self.phase + 2 * np.pi * self.freq_hz * (float(t) - self.t_last)

    def coefficient(self, t):
        """Tracked coefficients at time t (at or after the last pilot)."""
        return self.c0 * np.exp(1j * self.ratio * (self.one_way_phase(t) - self.phase0))


def pilot_phase(h_now, h_ref):
    """One-way phase change of each link between two pilot channel estimates
    (..., K): the angle of their subcarrier correlation (noise-averaging)."""
    return np.angle(np.sum(np.asarray(h_now) * np.conj(np.asarray(h_ref)), axis=-1))


def node_offsets(pair_values, ref_bs=0):
    """Per-node offsets from pair values v[m, n] = x_ue[n] - x_bs[m] (least
    squares, x_bs[ref] = 0): timing from the ML-TLS delays, or frequency from
    the coefficients' drift. Returns (x_bs (M), x_ue (N))."""
    v = np.asarray(pair_values, float)
    M, N = v.shape
    A = np.zeros((M * N, M + N))
    for m in range(M):
        for n in range(N):
            A[m * N + n, m] = -1
            A[m * N + n, M + n] = 1
    keep = [i for i in range(M + N) if i != ref_bs]
    x = np.zeros(M + N)
    x[keep] = np.linalg.lstsq(A[:, keep], v.ravel(), rcond=None)[0]
    return x[:M], x[M:]


def frequency_offsets(c_pair_t, slot_s, ratio=2.0):
    """One-way frequency offset of each pair (Hz) from the slope of its
    coefficient phase over slots: the coefficient turns at `ratio` (2) times the
    one-way offset nu_ue - nu_bs. c_pair_t: (T, ...) over T slots."""
    c = np.asarray(c_pair_t, complex)
    ph = np.unwrap(np.angle(c), axis=0)
    t = np.arange(c.shape[0]) * slot_s
    slope = np.polyfit(t, ph.reshape(c.shape[0], -1), 1)[0].reshape(c.shape[1:])
    return slope / (2 * np.pi * ratio)


# ---------------------------------------------------------------- simulator
@dataclass
class ReciprocitySim:
    """Table I of the paper: 26 GHz, 120 kHz, FFT 2048, CP 144, 8 BS + 8 UE nodes,
    RF gain amplitude N(1, 0.1) and phase U(-pi, pi), timing offsets U(-10, 10) ns,
    frequency offsets U(-30, 30) ppb, free-space paths; comb pilots (eq. 19)."""
    M: int = 8
    N: int = 8
    fc: float = 26e9
    df: float = 120e3
    nfft: int = 2048
    cp: int = 144
    comb: int = 4
    pilots: int = 400
    timing_ns: float = 10.0
    freq_ppb: float = 30.0
    freq_drift_hz_s: float = 0.0
    gain_std: float = 0.1
    area_m: float = 60.0
    noise_figure_db: float = 7.0
    antenna_gain_dbi: float = 10.0
    seed: int = 1
    truth: dict = field(default_factory=dict)

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        M, N = self.M, self.N

        def rf(n):
            return (1 + self.gain_std * rng.standard_normal(n)) * np.exp(
                1j * rng.uniform(-np.pi, np.pi, n))
        self.t_bs, self.r_bs, self.t_ue, self.r_ue = rf(M), rf(M), rf(N), rf(N)
        self.d_bs = rng.uniform(-1, 1, M) * self.timing_ns * 1e-9
        self.d_ue = rng.uniform(-1, 1, N) * self.timing_ns * 1e-9
        self.nu_bs = rng.uniform(-1, 1, M) * self.freq_ppb * 1e-9 * self.fc
        self.nu_ue = rng.uniform(-1, 1, N) * self.freq_ppb * 1e-9 * self.fc
        self.pos_bs = rng.uniform(0, self.area_m, (M, 2))
        self.pos_ue = rng.uniform(0, self.area_m, (N, 2))
        self.dist = np.linalg.norm(self.pos_bs[:, None] - self.pos_ue[None], axis=2) + 1.0
        self.drift_sign_bs = rng.choice([-1.0, 1.0], M)
        self.drift_sign_ue = rng.choice([-1.0, 1.0], N)
        self.rng = rng
        self.truth = {"c_bs": self.t_bs / self.r_bs, "c_ue": self.t_ue / self.r_ue,
                      "tau": self.d_ue[None, :] - self.d_bs[:, None]}

    @property
    def slot_s(self):
        """Slot duration: 1 ms / (df / 15 kHz), 125 us at 120 kHz."""
        return 1e-3 * 15e3 / self.df

    def lo_phase(self, t):
        """LO phases (BS (M), UE (N)) at time t: constant offset plus a linear drift."""
        k = 2 * np.pi * t
        drift = 0.5 * self.freq_drift_hz_s * t
        return k * (self.nu_bs + drift * self.drift_sign_bs), k * (self.nu_ue + drift * self.drift_sign_ue)

    def subcarriers(self, offset=0):
        """Comb pilot subcarriers (eq. 19): every comb-th, starting at offset."""
        return offset + self.comb * np.arange(self.pilots)

    def channels(self, tx_power_dbm, t=0.0, noise=True, timing=True, ul_dl_gap_s=0.0):
        """Downlink G and uplink H estimates (M, N, K) at time t on the comb pilots.

        LO phases advance with the frequency offsets; the uplink is measured
        ul_dl_gap_s after the downlink."""
        K = self.pilots
        s = self.subcarriers()
        f = s * self.df
        lam = C / self.fc
        h = (lam / (4 * np.pi * self.dist))[:, :, None] * np.exp(
            -2j * np.pi * (self.fc + f[None, None, :]) * (self.dist[:, :, None] / C))
        d = (self.d_ue[None, :] - self.d_bs[:, None])[:, :, None] if timing else 0.0
        lo_bs, lo_ue = self.lo_phase(t)
        lo_bs2, lo_ue2 = self.lo_phase(t + ul_dl_gap_s)
        G = self.r_ue[None, :, None] * h * self.t_bs[:, None, None] * \
            np.exp(-2j * np.pi * f * (-d)) * np.exp(1j * (lo_bs[:, None] - lo_ue[None, :]))[:, :, None]
        H = self.r_bs[:, None, None] * h * self.t_ue[None, :, None] * \
            np.exp(-2j * np.pi * f * d) * np.exp(1j * (lo_ue2[None, :] - lo_bs2[:, None]))[:, :, None]
        if noise:
            # per-subcarrier SNR: power over the pilots, kTB noise, antenna gains
            p_sub = 10 ** ((tx_power_dbm - 30) / 10) / K
            gain = 10 ** (2 * self.antenna_gain_dbi / 10)
            n0 = 1.380649e-23 * 290 * self.df * 10 ** (self.noise_figure_db / 10)
            sigma = math.sqrt(n0 / (p_sub * gain) / 2)
            G = G + sigma * (self.rng.standard_normal(G.shape) + 1j * self.rng.standard_normal(G.shape))
            H = H + sigma * (self.rng.standard_normal(H.shape) + 1j * self.rng.standard_normal(H.shape))
        return G, H


ALGORITHMS = ("argos", "argos-mean", "tls", "ml-tls")


def estimate(name, G, H, subcarriers, df):
    """Run one algorithm by name on downlink G and uplink H."""
    if name == "argos":
        return argos(G, H)
    if name == "argos-mean":
        return argos_mean(G, H)
    if name == "tls":
        return tls(G, H)
    if name == "ml-tls":
        return ml_tls(equivalent_channel(G, H), df, subcarriers)
    raise UserError(f"unknown reciprocity algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")


def compare(sim, powers_dbm, trials=5, algorithms=ALGORITHMS, progress=None):
    """Fig. 5 / Fig. 7: per transmit power and algorithm, the RMSE of the relative
    BS coefficient phases (deg) and the coherent beamforming gain (dB) achieved
    with the estimate. Returns rows (power, algorithm, rmse_deg, gain_db, ideal_db)."""
    rows = []
    s = sim.subcarriers()
    G_true, _ = sim.channels(0.0, noise=False)
    for p in powers_dbm:
        res = {k: ([], [], []) for k in algorithms}
        for _ in range(trials):
            G, H = sim.channels(p)
            for name in algorithms:
                est = estimate(name, G, H, s, sim.df)
                res[name][0].extend(phase_errors_deg(est, sim.truth["c_bs"])[1:])
                got, ideal = beamforming_gain_db(est, G_true, H, s, sim.df)
                res[name][1].append(got)
                res[name][2].append(ideal)
            if progress:
                progress()
        for name, (errs, gains, ideals) in res.items():
            rows.append((p, name, float(np.sqrt(np.mean(np.square(errs)))),
                         float(np.mean(gains)), float(np.mean(ideals))))
    return rows
