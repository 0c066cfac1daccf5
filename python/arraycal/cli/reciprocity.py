#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal reciprocity simulate | calibrate | node | sense`: distributed nodes."""

import argparse
import math
import time

from ..errors import UserError
from ..signals import run_flowgraph
from .common import (Parser, count, duration_s, node_count, node_index, nonneg_float,
                     positive_count, positive_float, power_dbm, progress_bar, seed)


# ---------------------------------------------------------------- reciprocity
def _power_list(text):
    try:
        vals = [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of dBm") from None
    if not vals:
        raise argparse.ArgumentTypeError("no transmit power given")
    if not all(-200.0 <= v <= 100.0 for v in vals):      # NaN fails this too
        raise argparse.ArgumentTypeError(f"'{text}': each power must be in [-200, 100] dBm")
    return vals


def add_reciprocity(sub):
    p = sub.add_parser("reciprocity", help="reciprocity calibration of distributed nodes",
                       description="Bidirectional reciprocity calibration (Jiang et al.): "
                                   "simulate the paper's comparison, or run the calibrator "
                                   "that nodes send their CSI to over ZMQ.")
    rsub = p.add_subparsers(dest="rc_verb", metavar="SUBVERB", parser_class=Parser)
    rsub.required = True
    s = rsub.add_parser("simulate", help="phase RMSE and beamforming gain per algorithm "
                                         "against transmit power (Fig. 5 / Fig. 7)",
                        description="Table I set-up (26 GHz, 120 kHz, 8 BS + 8 UE nodes, "
                                    "timing offsets U(-10, 10) ns): per transmit power and "
                                    "algorithm, the RMSE of the relative BS coefficient phases "
                                    "beside their Cramer-Rao bound (crlb: the equivalent "
                                    "channel H/G with every pair delay unknown, as ML-TLS "
                                    "estimates them), and the coherent beamforming gain over "
                                    "one node. With --timing-ns 0 and no noise every algorithm "
                                    "is exact; with noise, Argos and Argos-mean divide subcarrier "
                                    "means, which the propagation delay (tens to hundreds of ns "
                                    "across a 192 MHz comb) nearly cancels, so they stay noisy "
                                    "even at high power, and TLS, which takes the delays as "
                                    "known to be 0, does better than ML-TLS and the bound "
                                    "(which estimate them).")
    s.add_argument("--powers", type=_power_list, default=[-20, -10, 0, 10, 20],
                   help="transmit powers in dBm, comma-separated; write --powers=-10,0 when the first is negative (default -20,-10,0,10,20)")
    s.add_argument("--trials", type=positive_count, default=10, help="channel realisations per power")
    s.add_argument("--bs", type=node_count, default=8)
    s.add_argument("--ue", type=node_count, default=8)
    s.add_argument("--timing-ns", type=nonneg_float, default=10.0,
                   help="timing offsets U(-T, T) ns (0: none; see the description)")
    s.add_argument("--seed", type=seed, default=1)
    s.set_defaults(func=_cmd_reciprocity_simulate)
    c = rsub.add_parser("calibrate", help="calibrator: CSI from nodes over ZMQ in, "
                                          "coefficients out (log and ZMQ PUB)",
                        description="Binds a ZMQ PULL socket that node flowgraphs push CSI "
                                    "messages to (examples/reciprocity_zmq), estimates the "
                                    "coefficients for each complete calibration round, tracks "
                                    "them with the uplink pilots, appends every result to OUT "
                                    "(JSON lines) and publishes it on --publish. Ctrl-C stops.")
    c.add_argument("--listen", required=True, help="ZMQ address to bind, e.g. tcp://*:5600")
    c.add_argument("--bs", type=node_count, default=8)
    c.add_argument("--ue", type=node_count, default=8)
    c.add_argument("--spacing", type=positive_float, default=120e3, help="subcarrier spacing, Hz")
    c.add_argument("--method", choices=("ml-tls", "argos", "argos-mean", "tls"), default="ml-tls")
    c.add_argument("--out", required=True, help="JSON-lines log of the coefficients")
    c.add_argument("--publish", help="ZMQ address to publish the coefficients on (PUB, bind)")
    c.add_argument("--count", type=count, default=0,
                   help="stop after this many results (calibrations and tracking updates)")
    c.add_argument("--idle-stop", type=duration_s, default=0.0,
                   help="stop when no result came for this long after the first (s)")
    c.set_defaults(func=_cmd_reciprocity_calibrate)
    n = rsub.add_parser("node", help="one simulated node: CSI to the calibrator, coefficients back",
                        description="One node of the simulated Table I system (same --seed on "
                                    "every node: one world). Pushes its channel estimates to the "
                                    "calibrator (ZMQ PUSH, connect), logs the coefficients the "
                                    "calibrator publishes (ZMQ SUB) to OUT and stops once they "
                                    "cover its last pilot: then the calibrator has everything it "
                                    "sent. Start the calibrator first.")
    n.add_argument("--role", choices=("bs", "ue"), required=True)
    n.add_argument("--index", type=node_index, required=True)
    n.add_argument("--bs", type=node_count, default=8)
    n.add_argument("--ue", type=node_count, default=8)
    n.add_argument("--seed", type=seed, default=1)
    n.add_argument("--power", type=power_dbm, default=10.0, help="transmit power, dBm")
    n.add_argument("--slots", type=positive_count, default=200)
    n.add_argument("--pilot-period", type=positive_count, default=2, help="slots between uplink pilots")
    n.add_argument("--connect", required=True, help="the calibrator's --listen address")
    n.add_argument("--subscribe", required=True, help="the calibrator's --publish address")
    n.add_argument("--out", required=True, help="JSON-lines log of the received coefficients")
    n.add_argument("--timeout", type=duration_s, default=120.0,
                   help="give up when the coefficients have not come within this many seconds")
    n.set_defaults(func=_cmd_reciprocity_node)
    _add_sense(rsub)


def _cmd_reciprocity_simulate(args):
    from ..reciprocity import core as rc
    if args.trials < 1 or args.bs < 2 or args.ue < 1:
        raise UserError("need --trials >= 1, --bs >= 2 and --ue >= 1")
    sim = rc.ReciprocitySim(M=args.bs, N=args.ue, timing_ns=args.timing_ns, seed=args.seed)
    bar = progress_bar(len(args.powers) * args.trials, "trials")
    rows = rc.compare(sim, args.powers, args.trials, progress=bar.update)
    bar.close()
    ideal = rows[0][4]
    print(f"{args.bs} BS x {args.ue} UE nodes, {sim.fc / 1e9:g} GHz, {sim.df / 1e3:g} kHz, "
          f"{sim.pilots} comb pilots, timing offsets U(-{args.timing_ns:g}, {args.timing_ns:g}) ns, "
          f"{args.trials} trials per power")
    print(f"beamforming gain: coherent joint transmission over the mean single node "
          f"(ideal {ideal:.1f} dB, non-coherent about {10 * math.log10(args.bs):.1f} dB)")
    names = list(rc.ALGORITHMS)
    print(f"{'power dBm':>9}  " + "  ".join(f"{n + ' deg':>13}" for n in names)
          + f"  {'crlb deg':>9}  " + "  ".join(f"{n + ' dB':>12}" for n in names))
    for p in args.powers:
        r = {row[1]: row for row in rows if row[0] == p}
        print(f"{p:9.1f}  " + "  ".join(f"{r[n][2]:13.3f}" for n in names)
              + f"  {sim.crlb_deg(p):9.3f}  " + "  ".join(f"{r[n][3]:12.2f}" for n in names))
    return 0




def _cmd_reciprocity_calibrate(args):
    from gnuradio import gr, zeromq
    from ..reciprocity.blocks import reciprocity_calibrator, reciprocity_logger, reciprocity_tracker
    log = reciprocity_logger(args.out)       # first: it refuses a missing directory
    tb = gr.top_block()
    try:
        src = zeromq.pull_msg_source(args.listen, 100, True)
        pub = zeromq.pub_msg_sink(args.publish, 100, True) if args.publish else None
    except RuntimeError as e:
        raise UserError(f"ZMQ: {' '.join(str(e).split())}") from None
    cal = reciprocity_calibrator(args.bs, args.ue, args.spacing, args.method)
    trk = reciprocity_tracker(args.bs, args.ue)
    tb.msg_connect(src, "out", cal, "csi")
    tb.msg_connect(src, "out", trk, "csi")
    tb.msg_connect(cal, "calib", trk, "calib")
    for blk in (cal, trk):
        tb.msg_connect(blk, "calib", log, "calib")
        if pub is not None:
            tb.msg_connect(blk, "calib", pub, "in")
    state = {"count": -1, "since": time.monotonic()}

    def until():
        if args.count and log.count >= args.count:
            return True
        if log.count != state["count"]:
            state["count"], state["since"] = log.count, time.monotonic()
        elif args.idle_stop > 0 and log.count > 0 and \
                time.monotonic() - state["since"] > args.idle_stop:
            return True
        return False

    def started():
        print(f"arraycal reciprocity calibrate: listening on {args.listen} for "
              f"{args.bs} BS x {args.ue} UE nodes, log {args.out}"
              + (f", publishing on {args.publish}" if args.publish else ""), flush=True)

    def progress(elapsed):
        print(f"arraycal reciprocity calibrate: {cal.seq} calibrations, {trk.seq} tracking "
              f"updates, {cal.dropped + trk.dropped} messages dropped", flush=True)

    run_flowgraph(tb, "arraycal reciprocity calibrate", on_started=started, until=until,
                  progress=progress)
    print(f"arraycal reciprocity calibrate: done; {cal.seq} calibrations, {trk.seq} tracking "
          f"updates, {log.count} logged, {cal.dropped + trk.dropped} messages dropped", flush=True)
    return 0


def _cmd_reciprocity_node(args):
    from gnuradio import gr, zeromq
    from ..reciprocity.blocks import reciprocity_logger, reciprocity_node_sim
    if args.slots < 0 or args.pilot_period < 1:
        raise UserError("need --slots >= 0 and --pilot-period >= 1")
    node = reciprocity_node_sim(args.role, args.index, args.bs, args.ue, args.seed, args.power,
                                args.slots, args.pilot_period)
    log = reciprocity_logger(args.out)       # before any socket: it refuses a missing directory
    tb = gr.top_block()
    try:
        push = zeromq.push_msg_sink(args.connect, 100, False)
        sub = zeromq.sub_msg_source(args.subscribe, 100, False)
    except RuntimeError as e:
        raise UserError(f"ZMQ: {' '.join(str(e).split())}") from None
    tb.msg_connect(node, "csi", push, "in")
    tb.msg_connect(sub, "out", log, "calib")
    t_end = time.monotonic() + args.timeout
    state = {"timed_out": False}

    def until():
        if log.last_time is not None and log.last_time >= node.last_time - 1e-12:
            return True
        if time.monotonic() > t_end:
            state["timed_out"] = True
            return True
        return False

    label = f"arraycal reciprocity node {args.role}{args.index}"
    run_flowgraph(tb, label, on_started=lambda: print(
        f"{label}: pushing to {args.connect}, coefficients from {args.subscribe}", flush=True),
        until=until)
    if state["timed_out"]:
        raise UserError(f"no coefficients covering t={node.last_time:g} s from "
                        f"{args.subscribe} within {args.timeout:g} s ({node.sent} estimates sent, "
                        f"{log.count} results received); is the calibrator running?")
    print(f"{label}: {node.sent} estimates sent, {log.count} coefficient sets logged to {args.out}",
          flush=True)
    return 0


# ---------------------------------------------------------------- sense
def _probability(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a probability in (0, 1)")
    return v


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return v


def _add_sense(rsub):
    s = rsub.add_parser("sense", help="calibration-assisted sensing and sensing-assisted "
                                      "tracking (the paper's Section IV-B/C)",
                        description="Simulates the paper's sensing experiment: a static LoS "
                                    "at 300 m and a UAV at 365 m moving at -3.2 m/s, 35 dB "
                                    "weaker, 10 ns timing jitter and a frequency offset "
                                    "drifting up to 550 Hz, sensed raw and with the offsets "
                                    "of the per-slot reciprocity calibration removed, without "
                                    "and with MTI; then Fig. 9/10's dynamic scenario: the "
                                    "coherent gain of joint transmission to a moving UE with "
                                    "the coefficients tracked from one-way pilots, plain or "
                                    "sensing-assisted. Prints tables; with --out writes the "
                                    "figures there.")
    s.add_argument("--simulate", action="store_true", required=True,
                   help="run the simulated experiment (the only input so far)")
    s.add_argument("--out", help="directory for the figures (sense_maps.png, "
                                 "sense_tracking.png) and the tables (sense.txt)")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--pfa", type=_probability, default=1e-6, help="CFAR false-alarm probability")
    s.add_argument("--pilot-period", type=_positive_int, default=10,
                   help="slots between one-way tracking pilots in the reduced case (default 10: "
                        "1/10 of the pilots)")
    s.add_argument("--slots", type=_positive_int, default=400,
                   help="slots tracked after the calibration frame (125 us each)")
    s.set_defaults(func=_cmd_reciprocity_sense)


def _sense_figures(out, story, dyn, periods):
    import io
    import os
    import matplotlib
    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt
    import numpy as np
    from ..fileio import atomic_write_bytes

    fig, axs = plt.subplots(2, 2, figsize=(11, 8), sharex=True, sharey=True)
    for ax, key in zip(axs.ravel(), [("raw", False), ("raw", True), ("compensated", False),
                                     ("compensated", True)]):
        c = story["cases"][key]
        r, v, p = c["range_m"], c["velocity_mps"], c["power"]
        sel = (r > 250) & (r < 420)
        db = 10 * np.log10(p[sel] + 1e-30)
        ax.imshow(db.T, origin="lower", aspect="auto", cmap="viridis",
                  extent=[r[sel][0], r[sel][-1], v[0], v[-1]], vmin=db.max() - 70, vmax=db.max())
        for d in c["detections"]:
            ax.plot(d["range_m"], d["velocity_mps"], "wx", ms=7)
        ax.plot(story["uav"]["range_m"], story["uav"]["velocity_mps"], "o", mfc="none",
                mec="r", ms=14)
        ax.set_ylim(-15, 15)
        ax.set_title(f"{key[0]}{' + MTI' if key[1] else ''}: UAV "
                     f"{'found' if c['uav'] else 'lost'}")
    for ax in axs[1]:
        ax.set_xlabel("path length (m)")
    for ax in axs[:, 0]:
        ax.set_ylabel("path length rate (m/s)")
    fig.suptitle("range-Doppler maps (x: detections, red circle: the UAV)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(os.path.join(out, "sense_maps.png"), buf.getvalue())

    fig, ax = plt.subplots(figsize=(9, 5))
    t_ms = dyn["time_s"] * 1e3
    ax.plot(t_ms, dyn["ideal_db"], "k:", label="ideal")
    for label in ["calibration every slot", "no tracking"] + \
            [f"{kind} 1/{P}" for P in periods for kind in ("plain", "sensing-assisted")]:
        ax.plot(t_ms, dyn[label], label=label)
    ax.set_xlabel("time since the last calibration (ms)")
    ax.set_ylabel("coherent gain over one node (dB)")
    ax.set_title("dynamic scenario: tracking the coefficients of a moving UE")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(os.path.join(out, "sense_tracking.png"), buf.getvalue())


def _cmd_reciprocity_sense(args):
    import os
    import numpy as np
    from ..fileio import atomic_write_text
    from ..sensing import core as sc, scenarios
    if args.out:
        try:
            os.makedirs(args.out, exist_ok=True)     # like every other verb's --out
        except OSError as e:
            raise UserError(f"--out {args.out}: {e.strerror}") from None
    story = scenarios.sensing_story(seed=args.seed, pfa=args.pfa)
    link = story["link"]
    res_r, res_v = story["resolution"]
    lines = [f"sensing: {link.fc / 1e9:g} GHz, {link.K} comb pilots at {link.spacing / 1e3:g} kHz "
             f"({res_r:.2f} m), {link.L} slots of {link.slot_s * 1e6:g} us ({res_v:.2f} m/s), "
             f"Pfa {args.pfa:g}",
             f"scene: static LoS at {story['los']['range_m']:g} m; UAV at "
             f"{story['uav']['range_m']:g} m, {story['uav']['velocity_mps']:g} m/s, "
             f"{-story['uav']['gain_db']:g} dB weaker; 10 ns timing jitter, frequency offset "
             f"drifting 0 to 550 Hz",
             f"offsets from the per-slot ML-TLS calibration: timing error "
             f"{story['tau_error_s'] * 1e12:.2f} ps rms, frequency error "
             f"{story['fo_error_hz']:.2f} Hz rms per slot", "",
             f"{'case':<20} {'targets':>7} {'UAV':>5} {'range m':>8} {'vel m/s':>8} "
             f"{'SNR dB':>7} {'LoS Doppler conc.':>17}"]
    for key in [("raw", False), ("raw", True), ("compensated", False), ("compensated", True)]:
        c = story["cases"][key]
        u = c["uav"]
        name = key[0] + (" + MTI" if key[1] else "")
        lines.append(f"{name:<20} {len(c['detections']):7d} {'found' if u else 'lost':>5} "
                     + (f"{u['range_m']:8.2f} {u['velocity_mps']:8.3f} {u['snr_db']:7.1f}"
                        if u else f"{'-':>8} {'-':>8} {'-':>7}")
                     + f" {c['los_concentration']:17.3f}")
    u = story["cases"][("compensated", True)]["uav"]
    if u:
        bound = sc.crlb(u["snr_db"] - 10 * np.log10(link.K * link.L), link.K, link.L,
                        link.spacing, link.slot_s, link.fc)
        lines.append(f"UAV bound at its SNR (eq. 40): range {bound['range_m'] * 100:.2f} cm, "
                     f"velocity {bound['velocity_mps'] * 1000:.2f} mm/s; this run is off by "
                     f"{abs(u['range_m'] - story['uav']['range_m']) * 100:.2f} cm, "
                     f"{abs(u['velocity_mps'] - story['uav']['velocity_mps']) * 1000:.2f} mm/s: "
                     f"eq. 37 holds d fixed over the frame, so the estimate is the range at the "
                     f"frame centre and the rate at the band centre's frequency")
    periods = sorted({1, args.pilot_period})
    dyn = scenarios.dynamic_tracking(seed=args.seed, slots=args.slots, pilot_periods=periods)
    sc_ = dyn["scene"]
    last = max(1, int(round(0.01 / sc_.slot_s)))
    lines += ["", f"dynamic scenario (Fig. 9/10): {sc_.M} BS nodes, UE at {sc_.speed_mps:g} m/s, "
                  f"LO offsets U(-{sc_.freq_hz:g}, {sc_.freq_hz:g}) Hz drifting "
                  f"{sc_.drift_hz_s:g} Hz/s; {args.slots} slots after a "
                  f"{dyn['frame']}-slot calibration frame",
              f"{'coefficients':<28} {'pilots':>8} {'mean gain dB':>12} {'last 10 ms dB':>13}",
              f"{'ideal':<28} {'':>8} {np.mean(dyn['ideal_db']):12.2f} "
              f"{np.mean(dyn['ideal_db'][-last:]):13.2f}"]
    rows = [("calibration every slot", "1/1 (2-way)"), ("no tracking", "none")]
    rows += [(f"{kind} 1/{P}", f"1/{P}") for P in periods for kind in ("plain", "sensing-assisted")]
    for label, pil in rows:
        g = dyn[label]
        lines.append(f"{label.rsplit(' 1/', 1)[0]:<28} {pil:>8} {np.mean(g):12.2f} "
                     f"{np.mean(g[-last:]):13.2f}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        atomic_write_text(os.path.join(args.out, "sense.txt"), text)
        _sense_figures(args.out, story, dyn, periods)
        print(f"figures: {os.path.join(args.out, 'sense_maps.png')}, "
              f"{os.path.join(args.out, 'sense_tracking.png')}")
    return 0
