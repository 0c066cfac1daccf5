#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Calibration-assisted sensing (Jiang et al., Section IV-B/C, eqs. 34-42).

Model. A link's channel estimate over subcarriers k = 0..K-1 (spacing df) and
pilot symbols l = 0..L-1 (period T) is a sum of paths p with path length d_p
(metres, delay d_p / c) and path-length rate v_p (m/s):

    H[k, l] = sum_p a_p exp(-j 2pi k df d_p / c) exp(-j 2pi l T v_p / lambda)     (eq. 37)

(lambda = c / fc; a path that lengthens turns its phase backwards, so the
physical Doppler shift is -v_p / lambda; range migration k df v_p l T / c is
neglected). Unsynchronised nodes add a timing offset tau[l] and an LO phase
phi[l] to what is measured:

    G[k, l] = H[k, l] exp(-j 2pi k df tau[l]) exp(j phi[l]),  phi[l] = 2pi T sum_{i<=l} fo[i]

(eq. 34 is the constant-offset case). The reciprocity calibration measures
both per slot: its pair delay is tau and its coefficient turns at twice the
one-way LO phase (offsets_from_calibration), so compensate() undoes them and a
2D DFT then sees the true range and Doppler (eq. 35). Moving target indication
removes the static paths, a 2D CA-CFAR detects, and the detected paths
predict the channel at later symbols (eq. 37), which sensing-assisted phase
tracking uses (reciprocity.core.PhaseTracker, eqs. 36-39).

Bounds (crlb, eqs. 40-42; derived here from the model above for one path in
complex white Gaussian noise, per-sample SNR = |a|^2 / sigma^2, because the
equations are restated rather than copied): with the phase unknown,

    var(d) = 6 (c / (2pi df))^2      / (SNR L K (K^2 - 1))
    var(v) = 6 (lambda / (2pi T))^2  / (SNR K L (L^2 - 1))
    var(arg H_hat[k, l]) = 1 / (2 SNR) [1/(KL) + 12 (k - kc)^2 / (L K (K^2 - 1))
                                        + 12 (l - lc)^2 / (K L (L^2 - 1))]

(kc, lc: the centres (K-1)/2, (L-1)/2), the last one the phase error of the
predicted channel at (k, l), inside or beyond the sensed frame.
"""

import math

import numpy as np

from ..errors import UserError

C = 299792458.0


class SensingError(UserError, ValueError):
    """Bad sensing input: one line, what is wrong (a UserError and a ValueError)."""


# ---------------------------------------------------------------- checks
def _positive(name, x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise SensingError(f"{name} must be a number, not {x!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise SensingError(f"{name} must be a finite number > 0, not {x!r}")
    return v


def _csi(name, G):
    try:
        a = np.asarray(G, dtype=np.complex128)
    except (TypeError, ValueError):
        raise SensingError(f"{name} must be a complex array") from None
    if a.ndim != 2:
        raise SensingError(f"{name} must have shape (K, L) (subcarriers, symbols); got {a.shape}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise SensingError(f"{name} needs at least 2 subcarriers and 2 symbols; got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise SensingError(f"{name} contains NaN or Inf")
    return a


def _per_symbol(name, x, L):
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise SensingError(f"{name} must be real numbers") from None
    if a.ndim == 0:
        a = np.full(L, float(a))
    if a.shape != (L,):
        raise SensingError(f"{name} must be a number or have {L} entries (one per symbol); "
                           f"got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise SensingError(f"{name} contains NaN or Inf")
    return a


def _indices(subcarriers, K):
    if subcarriers is None:
        return np.arange(K, dtype=float)
    k = np.asarray(subcarriers, dtype=float)
    if k.shape != (K,) or not np.all(np.isfinite(k)):
        raise SensingError(f"subcarriers must be {K} finite indices; got shape {k.shape}")
    return k


# ---------------------------------------------------------------- compensation
def compensate(G, tau, fo, subcarrier_spacing, symbol_period, subcarriers=None):
    """The channel H with the timing offsets tau[l] (s) and the frequency offsets
    fo[l] (Hz) removed (eqs. 34-35): H = G exp(j 2pi k df tau[l]) exp(-j phi[l]),
    phi[l] = 2pi T sum_{i<=l} fo[i]. G: complex (K, L); tau, fo: one value per
    symbol or a constant. subcarriers (optional): the K subcarrier indices k
    (default 0..K-1), e.g. absolute comb indices divided by the comb step."""
    G = _csi("G", G)
    K, L = G.shape
    df = _positive("subcarrier spacing", subcarrier_spacing)
    T = _positive("symbol period", symbol_period)
    tau = _per_symbol("tau", tau, L)
    fo = _per_symbol("fo", fo, L)
    k = _indices(subcarriers, K)
    phi = 2 * np.pi * T * np.cumsum(fo)
    return G * np.exp(2j * np.pi * df * np.outer(k, tau)) * np.exp(-1j * phi)[None, :]


def offsets_from_calibration(tau_pair, c_pair, symbol_period, link="ul", ratio=2.0):
    """Per-slot (tau, fo) of one link for compensate(), from the reciprocity
    calibration of every slot: tau_pair[l] the ML-TLS pair delay d'_n - d_m (s)
    and c_pair[l] the pair coefficient, which turns at `ratio` (2) times the
    one-way LO phase. The uplink (measured at the BS) carries +tau_pair and the
    one-way phase, the downlink the opposite signs. fo[0] = 0: the LO phase at
    the first slot is a constant that the paths' amplitudes absorb. A one-way
    step must stay within +-pi/ratio per slot (|fo| T < 1/(2 ratio))."""
    T = _positive("symbol period", symbol_period)
    tau_pair = np.asarray(tau_pair, dtype=float)
    c = np.asarray(c_pair, dtype=complex)
    if tau_pair.ndim != 1 or c.shape != tau_pair.shape or tau_pair.size < 1:
        raise SensingError(f"tau_pair and c_pair must be 1-D of the same length; "
                           f"got {tau_pair.shape} and {c.shape}")
    if not (np.all(np.isfinite(tau_pair)) and np.all(np.isfinite(c))):
        raise SensingError("tau_pair or c_pair contains NaN or Inf")
    if np.any(c == 0):
        raise SensingError("c_pair has zero coefficients: no phase to follow")
    if link not in ("ul", "dl"):
        raise SensingError(f"link must be 'ul' or 'dl', not {link!r}")
    step = np.angle(c[1:] / c[:-1]) / ratio                 # one-way phase per slot
    fo = np.concatenate(([0.0], step / (2 * np.pi * T)))
    sign = 1.0 if link == "ul" else -1.0
    return sign * tau_pair, sign * fo


# ---------------------------------------------------------------- range-Doppler
def _mti(H):
    """Moving target indication: the mean over symbols removed, which zeroes
    the zero-Doppler bin exactly and leaves every other bin (and its noise)
    untouched."""
    return H - H.mean(axis=1, keepdims=True)


def _cells(H):
    """Unshifted 2D periodogram: Y[i, m] = (1/KL) sum H e^{+j2pi(k i/K + l m/L)},
    a path of amplitude a on the grid gives |a|^2."""
    return np.fft.ifft2(H)


def _axes(K, L, df, T, fc):
    lam = C / fc
    range_m = np.arange(K) * C / (K * df)
    vel_bins = np.fft.fftshift(np.fft.fftfreq(L))            # cycles per symbol, ascending
    return range_m, vel_bins * lam / T


def range_doppler(H, subcarrier_spacing, symbol_period, carrier_frequency, mti=False):
    """Range-Doppler power map of a (compensated) channel H (K, L).

    Returns (power, range_m, velocity_mps): power (K, L), axis 0 range, axis 1
    velocity; a path of amplitude a exactly on the grid has power |a|^2 (2D DFT
    over K L, no window and no zero padding, so noise cells are independent).
    range_m[i] = i c / (K df), i = 0..K-1 (unambiguous up to c / df);
    velocity_mps ascending over [-lambda/(2T), lambda/(2T)) in steps of
    lambda / (L T), the rate of the path length (negative: approaching).
    mti: remove the static paths (mean over symbols) first."""
    H = _csi("H", H)
    df = _positive("subcarrier spacing", subcarrier_spacing)
    T = _positive("symbol period", symbol_period)
    fc = _positive("carrier frequency", carrier_frequency)
    if mti:
        H = _mti(H)
    power = np.fft.fftshift(np.abs(_cells(H)) ** 2, axes=1)
    r, v = _axes(H.shape[0], H.shape[1], df, T, fc)
    return power, r, v


# ---------------------------------------------------------------- CFAR
def _box_sum(a, hr, hv):
    """Circular sums over (2hr+1) x (2hv+1) boxes centred on every cell."""
    K, L = a.shape
    p = np.pad(a, ((hr + 1, hr), (hv + 1, hv)), mode="wrap")
    s = p.cumsum(0).cumsum(1)
    n0, n1 = 2 * hr + 1, 2 * hv + 1
    return s[n0:n0 + K, n1:n1 + L] - s[:K, n1:n1 + L] - s[n0:n0 + K, :L] + s[:K, :L]


def ca_cfar(power, pfa, guard=(2, 2), train=(4, 4), valid=None):
    """2D cell-averaging CFAR on a (circular) power map.

    Around every cell: a guard box of half-widths `guard` (range, velocity)
    and a training ring `train` cells thick beyond it; the noise estimate is
    the mean of the valid training cells and the threshold alpha times it,
    alpha = N (pfa^(-1/N) - 1) for N training cells: for independent
    exponential noise cells that makes the false-alarm probability exactly
    pfa. Returns (hits, noise) arrays of the map's shape."""
    power = np.asarray(power, float)
    K, L = power.shape
    gr_, gv = (int(x) for x in guard)
    tr, tv = (int(x) for x in train)
    if gr_ < 0 or gv < 0 or tr < 0 or tv < 0 or (tr == 0 and tv == 0):
        raise SensingError(f"CFAR guard {guard} and training {train} must be >= 0, "
                           f"with some training cells")
    if 2 * (gr_ + tr) + 1 > K or 2 * (gv + tv) + 1 > L:
        raise SensingError(f"a {K} x {L} map is too small for CFAR windows of "
                           f"{2 * (gr_ + tr) + 1} x {2 * (gv + tv) + 1} cells")
    ok = np.ones_like(power, bool) if valid is None else np.asarray(valid, bool)
    pv = np.where(ok, power, 0.0)
    s_out = _box_sum(pv, gr_ + tr, gv + tv) - _box_sum(pv, gr_, gv)
    n_out = _box_sum(ok.astype(float), gr_ + tr, gv + tv) - _box_sum(ok.astype(float), gr_, gv)
    n = np.maximum(np.rint(n_out), 1.0)
    noise = np.maximum(s_out, 0.0) / n
    alpha = n * (pfa ** (-1.0 / n) - 1.0)
    hits = ok & (n_out > 0.5) & (power > alpha * noise)
    return hits, noise


def _groups(hits):
    """Connected groups (8-neighbours, circular on both axes) of CFAR hits:
    a list of index arrays, one per group."""
    K, L = hits.shape
    todo = set(map(tuple, np.argwhere(hits)))
    groups = []
    while todo:
        seed = todo.pop()
        stack, members = [seed], [seed]
        while stack:
            i, m = stack.pop()
            for di in (-1, 0, 1):
                for dm in (-1, 0, 1):
                    q = ((i + di) % K, (m + dm) % L)
                    if q in todo:
                        todo.remove(q)
                        stack.append(q)
                        members.append(q)
        groups.append(np.array(members))
    return groups


def _refine(X, u0, w0, mti):
    """ML delay and Doppler of one path near (u0, w0) (cycles per subcarrier,
    per symbol): maximise J = log |<e, X>|^2 - log ||P e||^2 over the path
    model e = exp(-j2pi(k u + l w)), P the MTI projection if mti (identity
    otherwise; X must already be MTI'd), by a safeguarded Newton iteration
    within one cell of the start (the FFT cell alone is far from the CRLB).
    Returns (u, w, a, model): a the least-squares amplitude, model = a P e."""
    K, L = X.shape
    kk = np.arange(K, dtype=float)
    ll = np.arange(L, dtype=float)
    tp = 2j * np.pi

    def terms(u, w):
        # separable: sum_k sum_l X e^{j2pi(k u + l w)} as matrix-vector products
        ek, el = np.exp(tp * kk * u), np.exp(tp * ll * w)
        x0, x1, x2 = X @ el, X @ (tp * ll * el), X @ (tp * tp * ll * ll * el)
        e1, e2 = tp * kk * ek, tp * tp * kk * kk * ek
        A, Au, Auu = ek @ x0, e1 @ x0, e2 @ x0
        Aw, Aww, Auw = ek @ x1, ek @ x2, e1 @ x1
        f = abs(A) ** 2
        if f <= 0:
            return -np.inf, np.zeros(2), -np.eye(2)
        g = 2 * np.real(np.conj(A) * np.array([Au, Aw]))
        Hs = 2 * np.real(np.array([[np.conj(Au) * Au + np.conj(A) * Auu,
                                    np.conj(Au) * Aw + np.conj(A) * Auw],
                                   [np.conj(Aw) * Au + np.conj(A) * Auw,
                                    np.conj(Aw) * Aw + np.conj(A) * Aww]]))
        J, gJ, HJ = math.log(f), g / f, Hs / f - np.outer(g, g) / f ** 2
        if mti:
            # ||P e||^2 = K (L - |D|^2 / L), D(w) = sum_l e^{j2pi l w}
            D, D1, D2 = el.sum(), (tp * ll * el).sum(), (tp * tp * ll * ll * el).sum()
            q = abs(D) ** 2
            q1 = 2 * np.real(np.conj(D) * D1)
            q2 = 2 * np.real(np.conj(D1) * D1 + np.conj(D) * D2)
            den = L - q / L
            if den <= 1e-12 * L:
                return -np.inf, np.zeros(2), -np.eye(2)
            d1, d2 = -q1 / L, -q2 / L
            J -= math.log(den)
            gJ = gJ - np.array([0.0, d1 / den])
            HJ = HJ - np.array([[0.0, 0.0], [0.0, d2 / den - (d1 / den) ** 2]])
        return J, gJ, HJ

    u, w = u0, w0
    f, g, Hs = terms(u, w)
    for _ in range(40):
        try:
            step = -np.linalg.solve(Hs, g)
            newton = np.all(np.isfinite(step)) and np.all(np.linalg.eigvalsh(Hs) < 0)
        except np.linalg.LinAlgError:
            newton = False
        if not newton:
            step = 0.25 * np.sign(g) / np.array([K, L])     # ascent nudge
        # stay within one cell of the start; halve until J does not drop
        step = np.clip(step, [-1 / K, -1 / L], [1 / K, 1 / L])
        for _ in range(30):
            un, wn = u + step[0], w + step[1]
            if abs(un - u0) <= 1 / K and abs(wn - w0) <= 1 / L:
                fn, gn, Hn = terms(un, wn)
                if fn >= f:
                    break
            step = step / 2
        else:
            break
        done = abs(step[0]) * K < 1e-12 and abs(step[1]) * L < 1e-12
        u, w, f, g, Hs = un, wn, fn, gn, Hn
        if done:
            break
    model = np.exp(-2j * np.pi * (kk[:, None] * u + ll[None, :] * w))
    if mti:
        model = _mti(model)
    e = np.vdot(model, model).real
    a = np.vdot(model, X) / e if e > 0 else 0.0
    return u, w, a, a * model


def _fit_windows(guard, train, shape):
    """CFAR half-widths shrunk (training first, then guard) until the window
    fits the map on each axis: small maps are still searched."""
    try:
        g = [int(x) for x in guard]
        t = [int(x) for x in train]
    except (TypeError, ValueError):
        raise SensingError(f"guard and train are (range, velocity) cell counts, "
                           f"not {guard!r}, {train!r}") from None
    if len(g) != 2 or len(t) != 2 or min(g + t) < 0:
        raise SensingError(f"guard and train are two cell counts >= 0, not {guard!r}, {train!r}")
    for ax, n in enumerate(shape):
        while 2 * (g[ax] + t[ax]) + 1 > n and t[ax] > 1:
            t[ax] -= 1
        while 2 * (g[ax] + t[ax]) + 1 > n and g[ax] > 0:
            g[ax] -= 1
        while 2 * (g[ax] + t[ax]) + 1 > n and t[ax] > 0:
            t[ax] -= 1
    return tuple(g), tuple(t)


def detect(H, subcarrier_spacing, symbol_period, carrier_frequency, mti=True, pfa=1e-6,
           guard=(2, 2), train=(4, 4), max_targets=10):
    """Targets in a (compensated) channel H (K, L) from a 2D CA-CFAR with peak
    grouping and successive cancellation.

    Each round: the range-Doppler map (mti: static paths removed; then the
    zero-Doppler column holds nothing and is neither tested nor used as
    training), CA-CFAR at `pfa` (see ca_cfar), the hits grouped into connected
    clusters; the strongest cluster's peak is refined to the ML range and
    velocity, every path found so far is refined again against H minus the
    others (joint ML by cycling), their paths (eq. 37) are subtracted from H,
    and the next round looks again: a strong target's sidelobes, gone with
    it, are not reported, and noise-free paths are recovered exactly.
    A peak within the guard cells of a target already found is taken for
    what its cancellation left and is cancelled but not reported (so targets
    closer than the guard cells merge). Stops when nothing crosses the
    threshold, after max_targets, or after 3 max_targets rounds.

    The CFAR windows shrink to fit small maps. Returns a list of dicts,
    strongest first: range_m (path length d, the delay times c, in [0, c/df);
    a path that moves within the frame is found at its length at the frame
    centre), velocity_mps (its rate v, the Doppler times lambda, in
    [-lambda/2T, lambda/2T)), snr_db (the path's power over the
    CFAR noise estimate of one cell: the SNR integrated over the K L samples),
    amplitude (complex a of eq. 37, at k = l = 0)."""
    X = _csi("H", H)
    df = _positive("subcarrier spacing", subcarrier_spacing)
    T = _positive("symbol period", symbol_period)
    fc = _positive("carrier frequency", carrier_frequency)
    pfa = float(pfa) if isinstance(pfa, (int, float, np.floating, np.integer)) else pfa
    if not isinstance(pfa, float) or not 0 < pfa < 1:
        raise SensingError(f"pfa must be a probability in (0, 1), not {pfa!r}")
    if int(max_targets) < 0:
        raise SensingError(f"max_targets must be >= 0, not {max_targets}")
    K, L = X.shape
    lam = C / fc
    guard, train = _fit_windows(guard, train, (K, L))
    if mti:
        X = _mti(X)
    valid = np.ones((K, L), bool)
    if mti:
        valid[:, 0] = False                         # the removed zero-Doppler bin
    # successive cancellation with joint refinement: each new path is
    # refined, then (if strong) every path again against the data minus all
    # the others (cyclic, RELAX-like), so strong paths' sidelobes do not bias
    # weak ones and noise-free data is fitted exactly
    found = []                    # [u, w, a, model, reported]
    residual = X
    rounds, floor = 0, None
    gr_, gv = guard
    while True:
        power = np.abs(_cells(residual)) ** 2
        if floor is None:         # numerical residue of an exact cancellation is no target
            floor = 1e-20 * max(power.max(), 1e-300)
        hits, noise = ca_cfar(power, pfa, guard, train, valid)
        hits &= power > floor
        n_rep = sum(1 for f in found if f[4])
        if n_rep >= int(max_targets) or not hits.any() or rounds >= 3 * max(1, int(max_targets)):
            break
        rounds += 1
        best = max(_groups(hits), key=lambda g: power[g[:, 0], g[:, 1]].max())
        i0, m0 = (int(x) for x in best[np.argmax(power[best[:, 0], best[:, 1]])])
        # a peak within the guard cells of a path found is what its
        # cancellation left (noise fitted with it, or a path that moved in
        # the frame): part of that path, cancelled but not reported
        near = any(min(abs(i0 - f[0] * K % K), K - abs(i0 - f[0] * K % K)) <= gr_ + 0.5 and
                   min(abs(m0 - f[1] * L % L), L - abs(m0 - f[1] * L % L)) <= gv + 0.5
                   for f in found if f[4])
        u, w, a, model = _refine(residual, i0 / K, m0 / L, mti)
        found.append([u, w, a, model, not near])
        # only a strong path (20 dB over its cell's noise) moves the others much
        strong = abs(a) ** 2 > 100 * noise[i0, m0]
        for _ in range(2 if len(found) > 1 and strong else 0):
            for j, f in enumerate(found):
                others = sum(g[3] for i, g in enumerate(found) if i != j)
                found[j][:4] = _refine(X - others, f[0], f[1], mti)
        residual = X - sum(f[3] for f in found)
    out = []
    for u, w, a, _, reported in found:
        if not reported:
            continue
        i0, m0 = int(round(u * K)) % K, int(round(w * L)) % L
        snr = abs(a) ** 2 / max(noise[i0, m0], 1e-300)
        u %= 1.0
        w = (w + 0.5) % 1.0 - 0.5
        out.append({"range_m": float(u * C / df), "velocity_mps": float(w * lam / T),
                    "snr_db": float(10 * math.log10(max(snr, 1e-30))), "amplitude": complex(a)})
    out.sort(key=lambda d: -d["snr_db"])
    return out


# ---------------------------------------------------------------- prediction
def _paths(paths):
    if isinstance(paths, dict):
        paths = [paths]
    out = []
    for p in paths:
        try:
            if isinstance(p, dict):
                d, v = float(p["range_m"]), float(p["velocity_mps"])
                a = complex(p.get("amplitude", 1.0))
            else:                                   # (range_m, velocity_mps[, amplitude])
                if not 2 <= len(p) <= 3:
                    raise ValueError
                d, v = float(p[0]), float(p[1])
                a = complex(p[2]) if len(p) == 3 else 1.0 + 0j
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            raise SensingError("a path is a dict with range_m, velocity_mps and optionally "
                               "amplitude (as detect() returns), or a tuple (range_m, "
                               "velocity_mps[, amplitude])") from None
        if not all(math.isfinite(x) for x in (d, v, a.real, a.imag)):
            raise SensingError(f"path {p!r} has NaN or Inf")
        out.append((d, v, a))
    return out


def predict_channel(paths, k, l, subcarrier_spacing, symbol_period, carrier_frequency):
    """The channel of eq. 37 at subcarriers k and symbols l (arrays, broadcast
    against each other): sum_p a_p exp(-j2pi k df d_p/c) exp(-j2pi l T v_p/lambda).
    paths: dicts {range_m, velocity_mps, amplitude} (detect()'s output) or
    tuples (range_m, velocity_mps[, amplitude]); l may lie beyond the sensed
    frame (prediction)."""
    df = _positive("subcarrier spacing", subcarrier_spacing)
    T = _positive("symbol period", symbol_period)
    fc = _positive("carrier frequency", carrier_frequency)
    k = np.asarray(k, dtype=float)
    l_ = np.asarray(l, dtype=float)
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(l_))):
        raise SensingError("k and l must be finite")
    lam = C / fc
    out = np.zeros(np.broadcast(k, l_).shape, complex)
    for d, v, a in _paths(paths):
        out = out + a * np.exp(-2j * np.pi * (k * df * d / C + l_ * T * v / lam))
    return out


def channel_phase_change(paths, l, l0, subcarrier_spacing, symbol_period, carrier_frequency,
                         subcarriers):
    """Predicted propagation phase change of a link from symbol l0 to symbol l,
    as a pilot correlation over `subcarriers` sees it (the angle of
    sum_k H_hat[k, l] conj(H_hat[k, l0]), reciprocity.core.pilot_phase): what
    sensing-assisted tracking removes from the one-way pilot phase (eq. 38)."""
    k = np.asarray(subcarriers, dtype=float)
    h = predict_channel(paths, k, l, subcarrier_spacing, symbol_period, carrier_frequency)
    h0 = predict_channel(paths, k, l0, subcarrier_spacing, symbol_period, carrier_frequency)
    return float(np.angle(np.sum(h * np.conj(h0))))


# ---------------------------------------------------------------- bounds
def crlb(snr_db, num_subcarriers, num_symbols, subcarrier_spacing, symbol_period,
         carrier_frequency, k=None, l=None):
    """Cramer-Rao bounds (standard deviations) of one path's range, velocity and
    predicted phase (eqs. 40-42 as derived in the module docstring).

    snr_db: per-sample SNR |a|^2 / sigma^2 of the path in the (K, L) channel
    (detect()'s snr_db is this plus 10 log10(K L)). Returns a dict with
    range_m and velocity_mps, and, when k and l are given (arrays broadcast),
    phase_rad: the bound on the phase error of predict_channel at (k, l)."""
    try:
        snr = 10 ** (float(snr_db) / 10)
    except (TypeError, ValueError):
        raise SensingError(f"snr_db must be a number, not {snr_db!r}") from None
    if not math.isfinite(snr) or snr <= 0:
        raise SensingError(f"snr_db must be finite, not {snr_db!r}")
    K, L = num_subcarriers, num_symbols
    if not (isinstance(K, (int, np.integer)) and isinstance(L, (int, np.integer))) \
            or K < 2 or L < 2:
        raise SensingError(f"need integer num_subcarriers and num_symbols >= 2; got {K}, {L}")
    df = _positive("subcarrier spacing", subcarrier_spacing)
    T = _positive("symbol period", symbol_period)
    fc = _positive("carrier frequency", carrier_frequency)
    lam = C / fc
    var_u = 6.0 / ((2 * np.pi) ** 2 * snr * L * K * (K * K - 1))   # cycles per subcarrier
    var_w = 6.0 / ((2 * np.pi) ** 2 * snr * K * L * (L * L - 1))   # cycles per symbol
    out = {"range_m": math.sqrt(var_u) * C / df, "velocity_mps": math.sqrt(var_w) * lam / T}
    if k is not None and l is not None:
        kk = np.asarray(k, float) - (K - 1) / 2
        ll = np.asarray(l, float) - (L - 1) / 2
        var = (1.0 / (K * L) + 12 * kk ** 2 / (L * K * (K * K - 1))
               + 12 * ll ** 2 / (K * L * (L * L - 1))) / (2 * snr)
        out["phase_rad"] = np.sqrt(var)
    return out
