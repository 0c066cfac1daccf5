#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Two-ray calibration model: the LoS plus a flat-ground reflection from the image source.

A reflection a few nanoseconds behind the LoS is one tap for any estimator
at a few MS/s, so every element's LoS carries it:

    alpha_fk = s_f eps_k (exp(-j k d_fk) / d_fk + Gamma(psi_fk) exp(-j k r_fk) / r_fk)

with d_fk the distance from element k to the transmitter in frame f, r_fk
the distance to its image mirrored in the ground plane (ground_height_m
below the array's GNSS antenna, the plane normal to ENU up), s_f a per-frame
complex factor (power, carrier phase, CFO), and Gamma the ground's complex
reflection coefficient: one constant, or Fresnel's (polarisation 'v' or
'h') with the ground's complex relative permittivity. Because r_fk - d_fk
differs between elements and changes along the trajectory, Gamma is
identifiable. s_f is concentrated out (weighted linear LS per frame), and
Gamma, the ground height and the element offsets eps_k are fitted jointly by
least squares over all frames (weights from each LoS's SNR); uncertainties
from the Jacobian, scaled by the residual.

The ground height enters through the phase k (r - d): at 3 GHz a centimetre
matters, so a tape-measured height is refined within +-height_tolerance_m,
and an unknown height is searched over height_bounds_m, first on a grid
with a linearised cost (small Gamma), then by the joint fit.

Model selection: the two-ray term is kept only when it lowers the weighted
residual power by more than the BIC penalty of its parameters and by at
least min_improvement, and |Gamma| is significant; otherwise the LoS-only
model (today's estimate) stands.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError


@dataclass
class GroundModel:
    """How to model the ground. height_m: the array's GNSS antenna above the reflecting
    ground (None: unknown, searched within height_bounds_m). fresnel: None for one
    constant coefficient, 'v' or 'h' for Fresnel's with a fitted permittivity."""
    height_m: float = None
    height_bounds_m: tuple = (0.5, 20.0)
    height_tolerance_m: float = 0.1
    fresnel: str = None
    max_fit_frames: int = 4000
    min_improvement: float = 0.05
    min_significance: float = 5.0
    smooth_height_s: float = 2.0

    def __post_init__(self):
        lo, hi = map(float, self.height_bounds_m)
        if not 0 < lo < hi:
            raise UserError(f"ground height bounds must be 0 < low < high, not {lo}, {hi}")
        self.height_bounds_m = (lo, hi)
        if self.height_m is not None:
            h = float(self.height_m)
            if not (math.isfinite(h) and h > 0):
                raise UserError(f"ground height must be a positive number of metres, not {h}")
            self.height_m = h
        if self.fresnel not in (None, "v", "h"):
            raise UserError(f"fresnel polarisation must be 'v' or 'h', not {self.fresnel!r}")


@dataclass
class TwoRayFit:
    used: bool                     # the two-ray term was kept (model selection)
    gamma: complex                 # at the median grazing angle for a Fresnel model
    gamma_std: float               # of |gamma| (and of each of its parts)
    gamma_db: float
    gamma_phase_deg: float
    height_m: float
    height_std_m: float
    height_given: bool
    permittivity: complex = None   # Fresnel model only
    polarisation: str = None
    offsets: np.ndarray = None     # eps_k / eps_ref of the joint fit
    phase_std_deg: list = None     # of the joint fit's offsets (statistical)
    amp_std_db: list = None
    residual_rms_los: float = 0.0  # weighted residual rms, LoS-only model
    residual_rms_two_ray: float = 0.0
    frames: int = 0
    note: str = ""
    frame_index: np.ndarray = field(default=None, repr=False)   # frames the fit used
    frame_residual_los: np.ndarray = field(default=None, repr=False)
    frame_residual_two_ray: np.ndarray = field(default=None, repr=False)
    smooth_height_s: float = 2.0   # the transmitter heights' smoothing it was fitted with

    def as_dict(self):
        d = {"used": bool(self.used), "gamma": {"re": float(self.gamma.real),
                                                "im": float(self.gamma.imag)},
             "gamma_db": float(self.gamma_db), "gamma_phase_deg": float(self.gamma_phase_deg),
             "gamma_std": float(self.gamma_std), "ground_height_m": float(self.height_m),
             "ground_height_std_m": float(self.height_std_m),
             "ground_height_given": bool(self.height_given),
             "residual_rms_los": float(self.residual_rms_los),
             "residual_rms_two_ray": float(self.residual_rms_two_ray),
             "frames": int(self.frames), "note": self.note,
             "smooth_height_s": float(self.smooth_height_s)}
        if self.permittivity is not None:
            d["permittivity"] = {"re": float(self.permittivity.real),
                                 "im": float(self.permittivity.imag)}
            d["polarisation"] = self.polarisation
        return d


def fit_from_dict(d):
    """The TwoRayFit a calibration document's quality.two_ray describes (as_dict), enough
    to divide its factor out again (arraycal report); None for None."""
    if not d:
        return None
    g = complex(d["gamma"]["re"], d["gamma"]["im"])
    perm = d.get("permittivity")
    return TwoRayFit(used=bool(d["used"]), gamma=g, gamma_std=float(d.get("gamma_std", 0.0)),
                     gamma_db=float(d["gamma_db"]), gamma_phase_deg=float(d["gamma_phase_deg"]),
                     height_m=float(d["ground_height_m"]),
                     height_std_m=float(d.get("ground_height_std_m", float("nan"))),
                     height_given=bool(d.get("ground_height_given", False)),
                     permittivity=None if perm is None else complex(perm["re"], perm["im"]),
                     polarisation=d.get("polarisation"),
                     residual_rms_los=float(d.get("residual_rms_los", 0.0)),
                     residual_rms_two_ray=float(d.get("residual_rms_two_ray", 0.0)),
                     frames=int(d.get("frames", 0)), note=d.get("note", ""),
                     smooth_height_s=float(d.get("smooth_height_s", 2.0)))


def image_geometry(tx, elem, height_m):
    """Distances (F, N) from each element to the transmitter's image below a ground plane
    height_m under the array's GNSS antenna (ENU origin), and grazing angles (rad)."""
    img = np.array(tx, float, copy=True)
    img[:, 2] = -2.0 * height_m - img[:, 2]
    v = img[:, None, :] - elem[None, :, :]
    r = np.sqrt(np.sum(v * v, axis=2))
    # heights above ground of element and transmitter, over the image path's length
    psi = np.arcsin(np.clip(-v[..., 2] / r, -1.0, 1.0))
    return r, psi


def fresnel(psi, eps_r, pol):
    """Fresnel reflection coefficient of a flat ground at grazing angle psi (rad),
    complex relative permittivity eps_r (eps' - j 60 sigma lambda, exp(-j k d) phasors)."""
    s, c2 = np.sin(psi), np.cos(psi) ** 2
    root = np.sqrt(eps_r - c2)
    if pol == "v":
        return (eps_r * s - root) / (eps_r * s + root)
    return (s - root) / (s + root)


def _direct(tx, elem, k):
    v = tx[:, None, :] - elem[None, :, :]
    d = np.sqrt(np.sum(v * v, axis=2))
    return np.exp(-1j * k * d) / d


def _reflected(tx, elem, k, h):
    r, psi = image_geometry(tx, elem, h)
    return np.exp(-1j * k * r) / r, psi


def _concentrate(a, u, w2):
    """Per-frame weighted LS factor s_f of a ~ s_f u, and the residual a - s u."""
    s = np.sum(np.conj(u) * a * w2, axis=1) / np.maximum(np.sum(np.abs(u) ** 2 * w2, axis=1),
                                                         1e-300)
    return a - s[:, None] * u


class _Problem:
    def __init__(self, alpha, tx, elem, lam, ref, snr_db):
        self.a = alpha
        self.tx = tx
        self.elem = elem
        self.k = 2 * np.pi / lam
        self.lam = lam
        self.ref = ref
        self.others = [i for i in range(alpha.shape[1]) if i != ref]
        if snr_db is None or not np.all(np.isfinite(snr_db)):
            var = np.broadcast_to(np.mean(np.abs(alpha) ** 2, axis=1, keepdims=True) * 1e-3,
                                  alpha.shape)
        else:
            var = np.abs(alpha) ** 2 * 10 ** (-np.asarray(snr_db) / 10)
        # one weight per frame: a per-element weight from |alpha_k| would follow the
        # fading the model is to explain and bias the amplitudes; normalised to O(1)
        var = np.broadcast_to(np.mean(var, axis=1, keepdims=True), alpha.shape)
        self.w2 = 1.0 / np.maximum(var, 1e-300)
        self.w2 = self.w2 / np.median(self.w2)
        self.w = np.sqrt(self.w2)
        v = tx[:, None, :] - elem[None, :, :]
        self.d_ref = np.sqrt(np.sum(v[:, ref] ** 2, axis=1))
        self.bd = _direct(tx, elem, self.k)
        self._refl_cache = (None, None)

    def reflected(self, h):
        if self._refl_cache[0] != h:
            self._refl_cache = (h, _reflected(self.tx, self.elem, self.k, h))
        return self._refl_cache[1]

    def path_excess(self, h):
        """Median reflected-minus-direct path of the reference element at height h (m)."""
        r, _ = image_geometry(self.tx[::max(1, len(self.tx) // 200)],
                              self.elem[[self.ref]], h)
        return float(np.median(r[:, 0] - self.d_ref[::max(1, len(self.tx) // 200)]))

    def eps(self, x):
        """offsets from [log-amplitude..., phase...] of the non-reference elements."""
        n = len(self.others)
        e = np.ones(self.a.shape[1], complex)
        e[self.others] = np.exp(x[:n] + 1j * x[n:2 * n])
        return e

    def model(self, eps, gamma=None, h=None, perm=None, pol=None):
        u = self.bd
        if h is not None:
            br, psi = self.reflected(h)
            g = fresnel(psi, perm, pol) if perm is not None else gamma
            u = u + g * br
        return eps[None, :] * u

    def residual(self, u):
        return _concentrate(self.a, u, self.w2) * self.w


def _pack_eps(eps, others):
    z = eps[others]
    return np.concatenate([np.log(np.abs(z)), np.angle(z)])


def _solve(fun, p0):
    from scipy.optimize import least_squares
    # Levenberg-Marquardt (MINPACK, QR): the bounded trust-region solver's SVD of
    # the whole Jacobian per step costs minutes on a campaign
    sol = least_squares(lambda p: _ri(fun(p)), p0, method="lm", x_scale="jac")
    return sol.x, sol.jac, float(np.sum(sol.fun ** 2))


def _std(J, sse, fixed=()):
    """Standard deviations from the Jacobian, scaled by the residual; columns in `fixed`
    held (conditional uncertainties of the others; NaN for the held ones)."""
    m, p = J.shape
    free = [i for i in range(p) if i not in fixed]
    Jf = J[:, free]
    s2 = sse / max(1, m - len(free))
    std = np.full(p, np.nan)
    try:
        std[free] = np.sqrt(np.clip(np.diag(np.linalg.pinv(Jf.T @ Jf)) * s2, 0, None))
    except np.linalg.LinAlgError:
        pass
    return std


def _ri(z):
    return np.concatenate([z.real.ravel(), z.imag.ravel()])


def _height_grid(prob, lo, hi):
    """Heights to try: fine enough that the reflected path's phase across the
    trajectory moves by at most lambda/8 of path between neighbours."""
    hs = np.linspace(lo, hi, 9)
    spread = 0.0
    for h in hs:
        r0, _ = image_geometry(prob.tx, prob.elem[[prob.ref]], h)
        r1, _ = image_geometry(prob.tx, prob.elem[[prob.ref]], h + 1e-3)
        g = (r1 - r0)[:, 0] / 1e-3
        spread = max(spread, float(np.max(g) - np.min(g)))
    step = prob.lam / 8 / max(spread, 0.05)
    n = int(min(20000, max(3, math.ceil((hi - lo) / step) + 1)))
    return np.linspace(lo, hi, n)


def _grid_search_height(prob, eps0, heights):
    """Linearised cost: log of the compensated ratios against the first-order two-ray
    term Gamma (rho_k - rho_ref), rho = reflected / direct; Gamma and the per-element
    constants in closed form for each height. Returns the best height and Gamma."""
    c = prob.a / prob.bd
    ratio = c / c[:, [prob.ref]] / eps0[None, :]
    y = np.log(ratio[:, prob.others])
    y = y - y.mean(axis=0)
    wt = np.minimum(prob.w2[:, prob.others], prob.w2[:, [prob.ref]])
    wt = wt / wt.sum(axis=0)
    best = (np.inf, None, 0j)
    for h in heights:
        br, _ = prob.reflected(h)
        rho = br / prob.bd
        z = rho[:, prob.others] - rho[:, [prob.ref]]
        z = z - np.sum(z * wt, axis=0)
        num = np.sum(wt * np.conj(z) * y)
        den = np.sum(wt * np.abs(z) ** 2)
        cost = -abs(num) ** 2 / den if den > 0 else 0.0
        if cost < best[0]:
            best = (cost, h, num / den if den > 0 else 0j)
    return best[1], best[2]


def fit_two_ray(alpha, tx, elem, lam, ref, ground, snr_db=None, eps0=None, seed=1):
    """Joint fit of the element offsets, the ground's reflection and its height.

    alpha (F, N) LoS; tx (F, 3) transmitter phase centre relative to the array's GNSS
    antenna (ENU, m); elem (N, 3) element positions (same frame); ref: reference
    index; ground: GroundModel; eps0: a starting estimate of the offsets (LoS-only)."""
    alpha = np.asarray(alpha, complex)
    F, N = alpha.shape
    if N < 2:
        raise UserError("a two-ray fit needs at least 2 elements")
    sel = np.arange(F)
    if F > ground.max_fit_frames:
        sel = np.sort(np.random.default_rng(seed).choice(F, ground.max_fit_frames,
                                                         replace=False))
    snr = None if snr_db is None else np.asarray(snr_db)[sel]
    prob = _Problem(alpha[sel], np.asarray(tx)[sel], np.asarray(elem), lam, ref, snr)
    others = prob.others
    if eps0 is None:
        c = prob.a / prob.bd
        z = c / c[:, [ref]]
        eps0 = np.mean(z, axis=0)
        eps0 /= eps0[ref]

    # LoS only: the per-frame LS, for the comparison (and today's model as the fallback)
    def f_los(p):
        return prob.residual(prob.model(prob.eps(p)))
    p_los, _, sse_los = _solve(f_los, _pack_eps(np.asarray(eps0, complex), others))
    eps_los = prob.eps(p_los)

    if ground.height_m is not None:
        lo = max(1e-3, ground.height_m - ground.height_tolerance_m)
        hi = ground.height_m + ground.height_tolerance_m
    else:
        lo, hi = ground.height_bounds_m
    h0, g0 = _grid_search_height(prob, eps_los, _height_grid(prob, lo, hi))
    pol = ground.fresnel
    if pol is None:
        # Gamma' = Gamma exp(-j k D(h)), D the median reflected-minus-direct path: a
        # height change then moves Gamma' little (along a drone's arc at constant
        # elevation it moves only Gamma's phase), which keeps the fit well conditioned
        def unpack(p, h):
            return (p[0] + 1j * p[1]) * np.exp(1j * prob.k * prob.path_excess(h)), None
        # the linearised grid cannot tell Gamma from the other sign: try both
        rot = np.exp(-1j * prob.k * prob.path_excess(h0))
        starts = [np.array([(z * rot).real, (z * rot).imag])
                  for z in ((g0, -g0) if abs(g0) > 0 else (0j,))]
    else:
        def unpack(p, h):
            return None, p[0] - 1j * p[1]
        starts = [np.array([er, 0.5]) for er in (4.0, 15.0, 40.0)]

    def f2_at(h_fixed=None):
        def f(p):
            h = p[2] if h_fixed is None else h_fixed
            e = prob.eps(p[3:] if h_fixed is None else p[2:])
            g, perm = unpack(p, h)
            return prob.residual(prob.model(e, g, h, perm, pol))
        return f

    best = None
    for st in starts:
        x, J, sse = _solve(f2_at(), np.concatenate([st, [h0], p_los]))
        if best is None or sse < best[2]:
            best = (x, J, sse)
    x, J, sse2 = best
    note_h = ""
    if not lo <= x[2] <= hi:
        # the height left its bounds: hold it at the nearer bound
        hb = min(max(x[2], lo), hi)
        xf, Jf, sse2 = _solve(f2_at(hb), np.concatenate([x[:2], x[3:]]))
        x = np.concatenate([xf[:2], [hb], xf[2:]])
        J = np.concatenate([Jf[:, :2], np.zeros((Jf.shape[0], 1)), Jf[:, 2:]], axis=1)
        note_h = f"; the ground height is held at its bound {hb:g} m"
    f2 = f2_at()
    # along the arc of a drone at constant elevation a height change and a phase of
    # Gamma are one: the height's uncertainty is marginal, the others' given the height
    std = _std(J, sse2, fixed=(2,))
    std[2] = _std(J, sse2)[2] if not note_h else np.nan
    h, hstd = float(x[2]), float(std[2])
    eps2, estd = prob.eps(x[3:]), std[3:]
    n_extra = 3
    if pol is None:
        gamma, perm = unpack(x, h)[0], None
        gstd = float(math.hypot(std[0], std[1]) / math.sqrt(2))
    else:
        perm = x[0] - 1j * x[1]
        _, psi = image_geometry(prob.tx, prob.elem, h)
        gamma = complex(fresnel(np.median(psi), perm, pol))
        # |Gamma|'s uncertainty through the permittivity's (numerical derivative)
        dg = [abs(fresnel(np.median(psi), perm + d, pol) - gamma) / abs(d) * sd
              for d, sd in ((1e-4, std[0]), (-1e-4j, std[1]))]
        gstd = float(math.hypot(*dg))

    m = 2 * prob.a.size
    bic_gain = m * math.log(sse_los / sse2) if sse2 > 0 else np.inf
    improvement = 1.0 - sse2 / sse_los if sse_los > 0 else 0.0
    signif = abs(gamma) / gstd if gstd > 0 else np.inf
    n_heights = max(1.0, (hi - lo) / (prob.lam / 4))
    used = (bic_gain > n_extra * math.log(m) + 2 * math.log(n_heights)
            and improvement >= ground.min_improvement and signif >= ground.min_significance)
    if used:
        note = (f"two-ray term kept: residual power {100 * improvement:.1f}% lower, "
                f"|Gamma| {signif:.0f} sigma" + note_h)
    else:
        note = (f"two-ray term not significant (residual power {100 * improvement:.2f}% lower, "
                f"|Gamma| {signif:.1f} sigma): the LoS-only model stands")
    nf = prob.a.shape[0]
    res_los = f_los(p_los)
    res2 = f2(x)
    no = len(others)
    return TwoRayFit(
        used=used, gamma=complex(gamma), gamma_std=gstd,
        gamma_db=20 * math.log10(max(abs(gamma), 1e-12)),
        gamma_phase_deg=math.degrees(np.angle(gamma)), height_m=h, height_std_m=hstd,
        height_given=ground.height_m is not None,
        permittivity=None if perm is None else complex(perm), polarisation=ground.fresnel,
        offsets=eps2, phase_std_deg=[0.0 if i == ref else
                                     math.degrees(estd[no + others.index(i)])
                                     for i in range(N)],
        amp_std_db=[0.0 if i == ref else 20 / math.log(10) * estd[others.index(i)]
                    for i in range(N)],
        residual_rms_los=math.sqrt(sse_los / (nf * N)),
        residual_rms_two_ray=math.sqrt(sse2 / (nf * N)), frames=nf, note=note, frame_index=sel,
        frame_residual_los=np.sqrt(np.mean(np.abs(res_los) ** 2, axis=1)),
        frame_residual_two_ray=np.sqrt(np.mean(np.abs(res2) ** 2, axis=1)))


def two_ray_factor(tx, elem, lam, fit):
    """(direct + Gamma reflected) / direct per frame and element, for a fit (F, N)."""
    k = 2 * np.pi / lam
    bd = _direct(tx, elem, k)
    br, psi = _reflected(tx, elem, k, fit.height_m)
    g = fresnel(psi, fit.permittivity, fit.polarisation) if fit.permittivity is not None \
        else fit.gamma
    return 1.0 + g * br / bd


def smooth_height(t, tx, window_s=2.0):
    """The transmitter's height low-passed over window_s (a quadratic Savitzky-Golay fit on
    a 10 Hz grid): the reflected path's phase moves with the height at about
    2 h_array / range of a wavelength per wavelength, so white GNSS height noise of 1.5 cm
    biases the fit (errors in variables) by up to a degree at 3 GHz; a walker's or a
    drone's height changes slowly. Horizontal positions are left as they are (a walker's
    corners)."""
    t = np.asarray(t, float)
    tx = np.array(tx, float, copy=True)
    if window_s <= 0 or len(t) < 2 or t[-1] - t[0] < window_s:
        return tx
    from scipy.signal import savgol_filter
    grid = np.arange(t[0], t[-1] + 0.1, 0.1)
    # one sample per grid cell (mean of the frames in it), then interpolated back
    idx = np.minimum(((t - t[0]) / 0.1).astype(int), len(grid) - 1)
    cnt = np.bincount(idx, minlength=len(grid))
    z = np.bincount(idx, tx[:, 2], minlength=len(grid))
    have = cnt > 0
    zg = np.interp(grid, grid[have], z[have] / cnt[have])
    win = max(5, int(round(window_s / 0.1)) | 1)
    if win >= len(grid):
        return tx
    zs = savgol_filter(zg, win, 2)
    tx[:, 2] = np.interp(t, grid, zs)
    return tx
