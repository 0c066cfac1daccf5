#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The calibration report: a text summary and PNG figures like the thesis's."""

import math
import os

import numpy as np

from ..fileio import atomic_write_text


def _plt():
    import matplotlib
    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt
    return plt


def summary_text(array, result, doc):
    q = doc["quality"]
    lines = [f"arraycal calibration report — {doc['array']}, {doc['freq_hz'] / 1e6:.3f} MHz, "
             f"{doc['sample_rate'] / 1e6:g} MS/s, method {doc['method']}",
             f"created {doc['created']}; reference element {doc['reference']}",
             f"frames: {q['frames_seen']} LoS frames, {q['frames_used']} used",
             ]
    if q.get("rejected"):
        # "used" counts frames; an outlier is left out of one element's estimate only
        lines.append("left out of an element's estimate: " + ", ".join(
            f"{v} ({k})" for k, v in q["rejected"].items()))
    if "duration_s" in q:
        lines.append(f"recording {q.get('recording', '')}: {q['duration_s']:.1f} s in "
                     f"{q.get('captures', 1)} capture(s); {q.get('frames_detected', 0)} frames "
                     f"detected, {q.get('frames_dropped_at_gaps', 0)} dropped at gaps"
                     + (f"; truncated ({q['truncated_bytes']} bytes ignored)"
                        if q.get("truncated_bytes") else ""))
    if q.get("tx_fixes") is not None:
        rej = q.get("tx_fixes_rejected") or {}
        lines.append(f"transmitter GNSS: {q['tx_fixes']} fixes"
                     + (", rejected " + ", ".join(f"{v} ({k})" for k, v in rej.items())
                        if rej else ", all used") + f"; GPS-UTC {q.get('leap_seconds', '?')} s")
    if q.get("joint_geometry"):
        if q.get("heading_std_deg") is not None:
            s = (f"joint geometry fit: heading correction {q['heading_correction_deg']:+.2f} "
                 f"deg (+-{q['heading_std_deg']:.2f})")
        else:
            s = "joint geometry fit: the array file's heading kept (not identified by the data)"
        if q.get("lever_arm_correction_m"):
            s += ", lever arm correction " + ", ".join(
                f"{x:+.3f}" for x in q["lever_arm_correction_m"]) + " m (body x, y, z)"
        lines.append(s)
    lines += two_ray_lines(doc)
    lines.append("")
    lines.append(f"{'element':>8s} {'channel':>7s} {'amp_dB':>8s} {'phase_deg':>10s} "
                 f"{'phase_std':>9s} {'amp_std':>8s} {'n':>8s}")
    for e in doc["elements"]:
        lines.append(f"{e['id']:>8s} {e['channel']:7d} {e['amp_db']:8.3f} {e['phase_deg']:10.3f} "
                     f"{e['phase_std_deg']:9.3f} {e['amp_std_db']:8.3f} {e['n']:8d}")
    lines.append("")
    lines.append("offset = (alpha_k/beta_k) / (alpha_ref/beta_ref); apply 1/offset to channel k")
    lines += [""] + verdict_lines(doc)
    return "\n".join(lines) + "\n"


def angle_bins(ratio, aoa_deg, channels, bin_deg=10.0):
    """Per channel and angle-of-arrival bin: mean offset phase (deg, circular
    mean) and its circular standard deviation sqrt(-2 ln R), mean and standard
    deviation of the amplitude (dB), and the number of frames n.

    ratio: frames x channels complex offsets against the reference; aoa_deg:
    each frame's angle of arrival. Bins are [-180 + i*bin_deg, ... + bin_deg).
    """
    ratio = np.asarray(ratio)
    aoa_deg = np.asarray(aoa_deg, dtype=float)
    edges = np.arange(-180.0, 180.0 + bin_deg, bin_deg)
    idx = np.digitize(aoa_deg, edges) - 1
    out = []
    for b in range(len(edges) - 1):
        sel = idx == b
        n = int(sel.sum())
        if n == 0:
            continue
        for k in channels:
            z = ratio[sel, k]
            m = np.mean(z / np.abs(z))
            R = min(float(np.abs(m)), 1.0)
            db = 20 * np.log10(np.abs(z))
            out.append({"channel": k, "aoa_deg": float(edges[b] + bin_deg / 2), "n": n,
                        "phase_deg": float(np.degrees(np.angle(m))),
                        "phase_std_deg": float(np.degrees(math.sqrt(-2 * math.log(R))))
                        if R > 0 else 180.0,
                        "amp_db": float(np.mean(db)),
                        "amp_std_db": float(np.std(db))})
    return out


def two_ray_lines(doc):
    """The ground reflection's fit and the residual before and after its term."""
    tr = doc["quality"].get("two_ray")
    res = (doc.get("verdict") or {}).get("residual") or {}
    out = []
    if tr:
        src = "given" if tr.get("ground_height_given") else "fitted"
        out.append(f"ground reflection (two-ray model): {'kept' if tr['used'] else 'not kept'}; "
                   f"Gamma {tr['gamma_db']:.2f} dB at {tr['gamma_phase_deg']:.1f} deg "
                   f"(+-{tr['gamma_std']:.3g}), ground {tr['ground_height_m']:.3f} m below "
                   f"the array's GNSS antenna ({src}); {tr['note']}")
        out.append(f"  weighted LoS residual rms: {tr['residual_rms_los']:.4g} LoS only, "
                   f"{tr['residual_rms_two_ray']:.4g} with the reflection "
                   f"({tr['frames']} frames)")
    if res.get("phase_rms_deg") is not None:
        s = (f"residual after the {res['model']} model: {res['phase_rms_deg']:.2f} deg, "
             f"{res['amp_rms_db']:.3f} dB RMS")
        if res.get("phase_rms_deg_los_only") is not None:
            s += (f" (without the two-ray term {res['phase_rms_deg_los_only']:.2f} deg, "
                  f"{res['amp_rms_db_los_only']:.3f} dB)")
        out.append(s + "; the verdict judges the model used")
    return out


def verdict_lines(doc):
    """The verdict, its reasons, the fitted corrections and every check (report.txt)."""
    v = doc.get("verdict")
    if not v:
        return ["verdict: unverified (a calibration written before verdicts existed)"]
    out = [f"verdict: {v['status']}" + ("" if v["status"] == "good" else
                                        " (Apply does not load it unless asked)")]
    out += [f"  - {r}" for r in v.get("reasons", [])]
    c = v.get("corrections") or {}
    if c:
        h = (f"{c['heading_deg']:+.3f} +- {c['heading_std_deg']:.3f} deg"
             if c.get("heading_identified") else "not fitted (not identified by the data)")
        t = (f"{c['time_offset_s'] * 1e3:+.2f} +- {c['time_offset_std_s'] * 1e3:.2f} ms"
             if c.get("time_identified") else "not fitted (not identified by the data)")
        out += [f"heading correction: {h}", f"radio-to-GNSS time offset: {t}"]
    out.append("checks (value, what passes):")
    for name, ck in v.get("checks", {}).items():
        val = "-" if ck["value"] is None else f"{ck['value']:g}"
        # which side of the limit passes (documents before 'bound' existed: unsaid)
        side = {"max": "<= ", "min": ">= "}.get(ck.get("bound"), "")
        lim = "-" if ck["limit"] is None else f"{side}{ck['limit']:g}"
        out.append(f"  {'ok  ' if ck['ok'] else 'FAIL'} {name}: {val} {ck.get('unit', '')} "
                   f"(pass {lim}; else {ck['level']})")
    return out


PLOT_FRAMES = 4000  # frames drawn per figure at most


def write_report(out_dir, array, est, result, doc, track=None):
    """report.txt and PNG figures in out_dir."""
    atomic_write_text(os.path.join(out_dir, "report.txt"), summary_text(array, result, doc))
    if est.stored == 0:
        return
    plt = _plt()
    t, alpha, tx, snr = est.frames()
    lever = np.array(result.lever_arm_correction_m) if result.lever_arm_correction_m else None
    # the ratios after the model used (with its ground reflection divided out when the
    # two-ray term was kept), the LoS-only ones beside them in grey
    ratio, _ = est.compensated_model(result)
    two_ray = result.two_ray is not None and result.two_ray.used
    ratio_los = est.compensated(result.heading_deg, lever)[0] if two_ray else None
    aoa = est.angles_of_arrival(result.heading_deg)
    if len(t) > PLOT_FRAMES:
        # a figure shows a few thousand points at most; drawing every frame of a long
        # campaign cost seconds: an even subset in time
        keep = np.linspace(0, len(t) - 1, PLOT_FRAMES).astype(int)
        t, alpha, tx, snr, ratio, aoa = (np.asarray(a)[keep]
                                         for a in (t, alpha, tx, snr, ratio, aoa))
        if ratio_los is not None:
            ratio_los = ratio_los[keep]
    tt = t - t[0]
    others = [(k, e) for k, e in enumerate(array.elements) if e.id != array.reference]

    # offset ratio vs time and vs angle of arrival, with the estimate and its spread
    fig, ax = plt.subplots(2, 2, figsize=(12, 7), sharex="col")
    for k, e in others:
        r = ratio[:, k]
        off = result.element(e.id)
        ph = np.degrees(np.angle(r / np.exp(1j * np.radians(off.phase_deg)))) + off.phase_deg
        db = 20 * np.log10(np.abs(r))
        if two_ray:
            r0 = ratio_los[:, k]
            ph0 = np.degrees(np.angle(r0 / np.exp(1j * np.radians(off.phase_deg)))) + \
                off.phase_deg
            for col, x in ((0, tt), (1, aoa)):
                lab = "without the two-ray term" if col == 0 and k == others[0][0] else None
                ax[0, col].plot(x, ph0, ".", ms=1, color="0.75", label=lab, zorder=0)
                ax[1, col].plot(x, 20 * np.log10(np.abs(r0)), ".", ms=1, color="0.75",
                                label=lab, zorder=0)
        for col, x in ((0, tt), (1, aoa)):
            line, = ax[0, col].plot(x, ph, ".", ms=2,
                                    label=f"{e.id}/{array.reference}: frames")
            ax[1, col].plot(x, db, ".", ms=2, color=line.get_color(),
                            label=f"{e.id}/{array.reference}: frames")
        for col in (0, 1):
            est_label = f"{e.id}: estimate" if col == 0 else None
            # the estimate in black, dashed: drawn over the frames of its colour
            ax[0, col].axhline(off.phase_deg, color="k", ls="--", lw=1.2, label=est_label)
            ax[0, col].axhspan(off.phase_deg - off.phase_std_deg, off.phase_deg + off.phase_std_deg,
                               color=line.get_color(), alpha=0.15,
                               label=f"{e.id}: estimate +-1 sigma" if col == 0 else None)
            ax[1, col].axhline(off.amp_db, color="k", ls="--", lw=1.2, label=est_label)
            ax[1, col].axhspan(off.amp_db - off.amp_std_db, off.amp_db + off.amp_std_db,
                               color=line.get_color(), alpha=0.15,
                               label=f"{e.id}: estimate +-1 sigma" if col == 0 else None)
    ax[0, 0].set_ylabel(f"offset phase vs {array.reference} (deg)")
    ax[1, 0].set_ylabel(f"offset amplitude vs {array.reference} (dB)")
    ax[1, 0].set_xlabel("time since the first frame (s)")
    ax[1, 1].set_xlabel("angle of arrival from boresight (deg)")
    for a in ax[:, 0]:
        a.legend(loc="best", fontsize=7, markerscale=4)
    ax[0, 0].set_title(f"offset against reference element {array.reference}, geometry "
                       + ("and ground reflection removed" if two_ray else "removed"))
    ax[0, 1].set_title("the same against the angle of arrival")
    for a in ax.flat:
        a.grid(alpha=0.3)
    v = doc.get("verdict") or {"status": "unverified", "reasons": []}
    fig.suptitle(f"verdict: {v['status']}" + (f" - {v['reasons'][0][:110]}" if v["reasons"]
                                               else ""),
                 color={"good": "darkgreen", "suspect": "darkorange"}.get(v["status"], "red"))
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "offset_vs_time_and_aoa.png"), dpi=110)
    plt.close(fig)

    # LoS phase and amplitude per element (raw, before removing the geometry)
    fig, ax = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ref = array.ref_index()
    for k, e in enumerate(array.elements):
        ax[0].plot(tt, np.degrees(np.angle(alpha[:, k] / alpha[:, ref])), ".", ms=2, label=e.id)
        ax[1].plot(tt, 20 * np.log10(np.abs(alpha[:, k])), ".", ms=2, label=e.id)
    ax[0].set_ylabel(f"LoS phase vs {array.reference} (deg)")
    # the LoS gain is received over transmitted amplitude (the packet has unit
    # magnitude), so 0 dB is a lossless path at the ADC's full-scale units
    ax[1].set_ylabel("LoS gain (dB; 0 dB = packet amplitude)")
    ax[1].set_xlabel("time since the first frame (s)")
    ax[0].set_title("line-of-sight tap per element, before the geometry is removed")
    ax[0].legend(fontsize=8, markerscale=4, title="element")
    ax[1].legend(fontsize=8, markerscale=4, title="element")
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "los_vs_time.png"), dpi=110)
    plt.close(fig)

    # DoA map: offset per angle-of-arrival bin, with its spread and frame count
    bins = angle_bins(ratio, aoa, [k for k, _ in others], 10.0)
    if bins:
        fig, ax = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
        for k, e in others:
            b = [x for x in bins if x["channel"] == k]
            x = [v["aoa_deg"] for v in b]
            line = ax[0].errorbar(x, [v["phase_deg"] for v in b],
                                  yerr=[v["phase_std_deg"] for v in b], fmt="o-", ms=4,
                                  capsize=3, label=f"{e.id}/{array.reference}")
            ax[1].errorbar(x, [v["amp_db"] for v in b], yerr=[v["amp_std_db"] for v in b],
                           fmt="o-", ms=4, capsize=3, color=line[0].get_color(),
                           label=f"{e.id}/{array.reference}")
            if k == others[0][0]:
                for v in b:     # frames per bin, once (every element has the same frames)
                    ax[0].annotate(f"{v['n']}", (v["aoa_deg"], v["phase_deg"] + v["phase_std_deg"]),
                                   textcoords="offset points", xytext=(0, 4), ha="center",
                                   fontsize=7)
        ax[0].set_ylabel(f"offset phase vs {array.reference} (deg)")
        ax[1].set_ylabel(f"offset amplitude vs {array.reference} (dB)")
        ax[1].set_xlabel("angle of arrival from boresight (deg), 10 deg bins")
        ax[0].set_title("DoA map: mean offset per bin; bars +-1 sigma of the bin's frames; "
                        "numbers: frames in the bin", fontsize=10)
        for a in ax:
            a.grid(alpha=0.3)
            a.legend(fontsize=8, title="element/reference")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "doa_map.png"), dpi=110)
        plt.close(fig)

    # the transmitter's track over the array
    fig, ax = plt.subplots(figsize=(6, 6))
    sc = ax.scatter(tx[:, 0], tx[:, 1], c=tt, s=3, cmap="viridis")
    elem = array.element_enu(result.heading_deg)
    ax.plot(elem[:, 0], elem[:, 1], "r^", ms=8, label="array elements")
    h = math.radians(result.heading_deg)
    span = max(1.0, float(np.nanmax(np.abs(tx[:, :2]))) * 0.3)
    ax.annotate("", xy=(span * math.sin(h), span * math.cos(h)), xytext=(0, 0),
                arrowprops=dict(arrowstyle="->", color="r"))
    ax.set_xlabel("east (m)")
    ax.set_ylabel("north (m)")
    ax.set_aspect("equal")
    ax.set_title("transmitter track (colour: time), array and boresight")
    fig.colorbar(sc, ax=ax, label="time since the first frame (s)")
    ax.plot([], [], "r-", label="array boresight")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "track.png"), dpi=110)
    plt.close(fig)


def write_two_ray_figure(out_dir, est, result):
    """two_ray.png: the fitted ground reflection and the fit's residual per frame with and
    without it (result.two_ray from estimate(ground=...)); nothing without a fit."""
    fit = result.two_ray
    if fit is None or fit.frame_index is None or est.stored == 0:
        return None
    plt = _plt()
    t, _, tx, _ = est.frames()
    tt = (t - t[0])[fit.frame_index]
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    ax[0].semilogy(tt, fit.frame_residual_los, ".", ms=2, label="LoS only")
    ax[0].semilogy(tt, fit.frame_residual_two_ray, ".", ms=2, label="LoS + ground reflection")
    ax[0].set_xlabel("time (s)")
    ax[0].set_ylabel("weighted residual rms per frame")
    ax[0].set_title(f"residual {fit.residual_rms_los:.3g} -> {fit.residual_rms_two_ray:.3g}"
                    + ("" if fit.used else " (term not kept)"))
    ax[0].legend(fontsize=8)
    ax[0].grid(alpha=0.3, which="both")
    # the reflection coefficient in the complex plane, with its 1-sigma circle
    th = np.linspace(0, 2 * np.pi, 100)
    ax[1].plot(np.cos(th), np.sin(th), color="0.7", lw=0.8)
    ax[1].plot(fit.gamma.real, fit.gamma.imag, "o", color="C1")
    ax[1].plot(fit.gamma.real + fit.gamma_std * np.cos(th),
               fit.gamma.imag + fit.gamma_std * np.sin(th), color="C1", lw=0.8)
    ax[1].axhline(0, color="0.5", lw=0.5)
    ax[1].axvline(0, color="0.5", lw=0.5)
    ax[1].set_aspect("equal")
    ax[1].set_xlim(-1.05, 1.05)
    ax[1].set_ylim(-1.05, 1.05)
    src = "given" if fit.height_given else "fitted"
    ax[1].set_title(f"reflection {fit.gamma_db:.1f} dB, {fit.gamma_phase_deg:.0f} deg\n"
                    f"ground {fit.height_m:.3f} m ({src})", fontsize=9)
    ax[1].set_xlabel("Re Gamma")
    ax[1].set_ylabel("Im Gamma")
    fig.tight_layout()
    path = os.path.join(out_dir, "two_ray.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
