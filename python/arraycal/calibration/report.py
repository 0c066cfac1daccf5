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
        lines.append("not used: " + ", ".join(f"{v} ({k})" for k, v in q["rejected"].items()))
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
        s = f"joint geometry fit: heading correction {q['heading_correction_deg']:+.2f} deg"
        if q.get("heading_std_deg") is not None:
            s += f" (+-{q['heading_std_deg']:.2f})"
        if q.get("lever_arm_correction_m"):
            s += ", lever arm correction " + ", ".join(
                f"{x:+.3f}" for x in q["lever_arm_correction_m"]) + " m (body x, y, z)"
        lines.append(s)
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
    out.append("checks (value, limit):")
    for name, ck in v.get("checks", {}).items():
        val = "-" if ck["value"] is None else f"{ck['value']:g}"
        lim = "-" if ck["limit"] is None else f"{ck['limit']:g}"
        out.append(f"  {'ok  ' if ck['ok'] else 'FAIL'} {name}: {val} {ck.get('unit', '')} "
                   f"(limit {lim}; {ck['level']})")
    return out


def write_report(out_dir, array, est, result, doc, track=None):
    """report.txt and PNG figures in out_dir."""
    atomic_write_text(os.path.join(out_dir, "report.txt"), summary_text(array, result, doc))
    if est.stored == 0:
        return
    plt = _plt()
    t, alpha, tx, snr = est.frames()
    ratio, _ = est.compensated(result.heading_deg,
                               np.array(result.lever_arm_correction_m)
                               if result.lever_arm_correction_m else None)
    aoa = est.angles_of_arrival(result.heading_deg)
    tt = t - t[0]
    others = [(k, e) for k, e in enumerate(array.elements) if e.id != array.reference]

    # offset ratio vs time and vs angle of arrival, with the estimate and its spread
    fig, ax = plt.subplots(2, 2, figsize=(12, 7), sharex="col")
    for k, e in others:
        r = ratio[:, k]
        off = result.element(e.id)
        ph = np.degrees(np.angle(r / np.exp(1j * np.radians(off.phase_deg)))) + off.phase_deg
        db = 20 * np.log10(np.abs(r))
        for col, x in ((0, tt), (1, aoa)):
            ax[0, col].plot(x, ph, ".", ms=2, label=f"{e.id}/{array.reference}")
            ax[1, col].plot(x, db, ".", ms=2)
        for col in (0, 1):
            ax[0, col].axhline(off.phase_deg, color="k", lw=1)
            ax[0, col].axhspan(off.phase_deg - off.phase_std_deg, off.phase_deg + off.phase_std_deg,
                               color="k", alpha=0.1)
            ax[1, col].axhline(off.amp_db, color="k", lw=1)
            ax[1, col].axhspan(off.amp_db - off.amp_std_db, off.amp_db + off.amp_std_db,
                               color="k", alpha=0.1)
    ax[0, 0].set_ylabel("offset phase (deg)")
    ax[1, 0].set_ylabel("offset amplitude (dB)")
    ax[1, 0].set_xlabel("time (s)")
    ax[1, 1].set_xlabel("angle of arrival from boresight (deg)")
    ax[0, 0].legend(loc="best", fontsize=8)
    ax[0, 0].set_title("offset against the reference, geometry removed")
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
    ax[1].set_ylabel("LoS amplitude (dB)")
    ax[1].set_xlabel("time (s)")
    ax[0].legend(fontsize=8)
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "los_vs_time.png"), dpi=110)
    plt.close(fig)

    # DoA map: relative phase per angle-of-arrival bin
    rows = est.pattern_map(10.0, result.heading_deg)
    if rows:
        fig, ax = plt.subplots(figsize=(8, 4))
        for k, e in others:
            r = [x for x in rows if x["element"] == e.id]
            ax.plot([x["aoa_deg"] for x in r], [x["phase_deg"] for x in r], "o-", label=e.id)
        ax.set_xlabel("angle of arrival from boresight (deg)")
        ax.set_ylabel("offset phase (deg)")
        ax.set_title("DoA map: offset per 10 deg of arrival angle")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "doa_map.png"), dpi=110)
        plt.close(fig)

    # the transmitter's track over the array
    fig, ax = plt.subplots(figsize=(6, 6))
    sc = ax.scatter(tx[:, 0], tx[:, 1], c=tt, s=3, cmap="viridis")
    elem = array.element_enu(result.heading_deg)
    ax.plot(elem[:, 0], elem[:, 1], "r^", ms=8, label="elements")
    h = math.radians(result.heading_deg)
    span = max(1.0, float(np.nanmax(np.abs(tx[:, :2]))) * 0.3)
    ax.annotate("", xy=(span * math.sin(h), span * math.cos(h)), xytext=(0, 0),
                arrowprops=dict(arrowstyle="->", color="r"))
    ax.set_xlabel("east (m)")
    ax.set_ylabel("north (m)")
    ax.set_aspect("equal")
    ax.set_title("transmitter track (colour: time), array and boresight")
    fig.colorbar(sc, ax=ax, label="s")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "track.png"), dpi=110)
    plt.close(fig)
