#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Reciprocity calibration as GNU Radio message blocks.

Messages (PMT dicts), so nodes on different hosts can exchange them over
gr-zeromq (push/pull or pub/sub message blocks):

CSI (one link, one pilot slot), from the node that measured it:
    link "dl" (BS m -> UE n, measured at the UE) or "ul" (measured at the BS),
    purpose "calibration" (a bidirectional sounding round) or "tracking"
    (one-way SRS), bs, ue (long), time (double, s), subcarriers (s32vector),
    h (c64vector; c32vector accepted).
Calibration (calibrator and tracker output):
    method, time, seq, num_bs, num_ue, c_bs (c64vector M), c_ue (c64vector N),
    c_pair (c64vector M*N, row-major, c_ue[n]/c_bs[m]), and tau (f64vector
    M*N, s) from ML-TLS or freq_hz (f64vector M*N, one-way) from the tracker.

Blocks: reciprocity_calibrator, reciprocity_tracker, reciprocity_logger,
reciprocity_node_sim (a simulated node of the paper's Table I set-up).
"""

import json
import os
import threading

import numpy as np
import pmt
from gnuradio import gr

from . import core as rc
from ..errors import UserError


# ---------------------------------------------------------------- message format
def csi_message(link, bs, ue, time_s, subcarriers, h, purpose="calibration"):
    d = pmt.make_dict()
    for k, v in (("link", pmt.intern(link)), ("purpose", pmt.intern(purpose)),
                 ("bs", pmt.from_long(int(bs))), ("ue", pmt.from_long(int(ue))),
                 ("time", pmt.from_double(float(time_s))),
                 ("subcarriers", pmt.init_s32vector(len(subcarriers),
                                                    [int(x) for x in subcarriers])),
                 ("h", pmt.init_c64vector(len(h), np.asarray(h, complex).tolist()))):
        d = pmt.dict_add(d, pmt.intern(k), v)
    return d


def _get(d, key, default=None):
    return pmt.dict_ref(d, pmt.intern(key), pmt.PMT_NIL if default is None else default)


def parse_csi(msg):
    """CSI message -> dict(link, purpose, bs, ue, time, subcarriers, h); ValueError if malformed."""
    if not pmt.is_dict(msg):
        raise ValueError("not a dict")
    link = pmt.symbol_to_string(_get(msg, "link")) if pmt.is_symbol(_get(msg, "link")) else ""
    if link not in ("dl", "ul"):
        raise ValueError(f"link must be 'dl' or 'ul', got {link!r}")
    purpose = _get(msg, "purpose", pmt.intern("calibration"))
    purpose = pmt.symbol_to_string(purpose) if pmt.is_symbol(purpose) else ""
    if purpose not in ("calibration", "tracking"):
        raise ValueError(f"purpose must be 'calibration' or 'tracking', got {purpose!r}")
    hv = _get(msg, "h")
    if pmt.is_c64vector(hv):
        h = np.array(pmt.c64vector_elements(hv), complex)
    elif pmt.is_c32vector(hv):
        h = np.array(pmt.c32vector_elements(hv), complex)
    else:
        raise ValueError("h must be a complex vector")
    sv = _get(msg, "subcarriers")
    s = np.array(pmt.s32vector_elements(sv)) if pmt.is_s32vector(sv) else np.arange(len(h))
    if len(s) != len(h):
        raise ValueError(f"{len(s)} subcarriers but {len(h)} channel values")
    if not np.all(np.isfinite(h)):
        raise ValueError("h contains NaN or Inf")
    for k in ("bs", "ue", "time"):
        if not pmt.is_number(_get(msg, k)):
            raise ValueError(f"missing {k}")
    return {"link": link, "purpose": purpose, "bs": pmt.to_long(_get(msg, "bs")),
            "ue": pmt.to_long(_get(msg, "ue")), "time": pmt.to_double(_get(msg, "time")),
            "subcarriers": s, "h": h}


def calibration_message(cal, time_s, seq, extra=None):
    M, N = len(cal.c_bs), len(cal.c_ue)
    c_pair = cal.c_pair if cal.c_pair is not None else cal.c_ue[None, :] / cal.c_bs[:, None]
    d = pmt.make_dict()
    items = [("method", pmt.intern(cal.method)), ("time", pmt.from_double(float(time_s))),
             ("seq", pmt.from_long(int(seq))), ("num_bs", pmt.from_long(M)),
             ("num_ue", pmt.from_long(N)),
             ("c_bs", pmt.init_c64vector(M, cal.c_bs.tolist())),
             ("c_ue", pmt.init_c64vector(N, cal.c_ue.tolist())),
             ("c_pair", pmt.init_c64vector(M * N, c_pair.ravel().tolist()))]
    if cal.tau is not None:
        items.append(("tau", pmt.init_f64vector(M * N, cal.tau.ravel().tolist())))
    for k, v in (extra or {}).items():
        items.append((k, pmt.init_f64vector(v.size, v.ravel().tolist())))
    for k, v in items:
        d = pmt.dict_add(d, pmt.intern(k), v)
    return d


def parse_calibration(msg):
    """Calibration message -> plain dict with numpy arrays (c_pair, tau, freq_hz as (M, N))."""
    M, N = pmt.to_long(_get(msg, "num_bs")), pmt.to_long(_get(msg, "num_ue"))
    out = {"method": pmt.symbol_to_string(_get(msg, "method")),
           "time": pmt.to_double(_get(msg, "time")), "seq": pmt.to_long(_get(msg, "seq")),
           "c_bs": np.array(pmt.c64vector_elements(_get(msg, "c_bs")), complex),
           "c_ue": np.array(pmt.c64vector_elements(_get(msg, "c_ue")), complex),
           "c_pair": np.array(pmt.c64vector_elements(_get(msg, "c_pair")),
                              complex).reshape(M, N)}
    for k in ("tau", "freq_hz"):
        v = _get(msg, k)
        if pmt.is_f64vector(v):
            out[k] = np.array(pmt.f64vector_elements(v)).reshape(M, N)
    return out


class _Counted:
    """Bad messages are dropped with a counted warning: the first few are logged."""

    def _init_warnings(self, name):
        self.log = gr.logger(name)
        self.dropped = 0

    def _warn(self, why):
        self.dropped += 1
        if self.dropped <= 5 or self.dropped % 1000 == 0:
            self.log.warn(f"dropped message #{self.dropped}: {why}")

    def _parse_csi(self, msg):
        """A CSI message of a link between our nodes, or None (counted warning)."""
        try:
            c = parse_csi(msg)
        except ValueError as e:
            self._warn(str(e))
            return None
        if not (0 <= c["bs"] < self.M and 0 <= c["ue"] < self.N):
            self._warn(f"link BS {c['bs']} - UE {c['ue']} outside {self.M} x {self.N} nodes")
            return None
        return c


# ---------------------------------------------------------------- calibrator
class reciprocity_calibrator(gr.basic_block, _Counted):
    """Per-link CSI in ("csi"), calibration coefficients out ("calib").

    Collects the downlink and uplink estimates of every BS-UE link from
    calibration rounds (CSI messages with purpose "calibration"; same time
    stamp in both directions) and, when a round is complete for all
    num_bs x num_ue links, estimates the coefficients with `method`
    (ml-tls, argos, argos-mean, tls) and publishes them. Tracking pilots are
    ignored here (see reciprocity_tracker). A message "calibrate" on "cmd"
    estimates from the newest round even if links are missing only if
    none is: otherwise it logs which are."""

    def __init__(self, num_bs=8, num_ue=8, subcarrier_spacing=120e3, method="ml-tls",
                 max_pending=8):
        gr.basic_block.__init__(self, name="reciprocity_calibrator", in_sig=None, out_sig=None)
        if method not in rc.ALGORITHMS:
            raise UserError(f"unknown method {method!r}; choose from {', '.join(rc.ALGORITHMS)}")
        if int(num_bs) < 2 or int(num_ue) < 1:
            raise UserError("need at least 2 BS nodes and 1 UE node")
        self.M, self.N = int(num_bs), int(num_ue)
        self.df = float(subcarrier_spacing)
        self.method = method
        self.max_pending = max(1, int(max_pending))
        self.pending = {}             # time -> {(link, m, n): (subcarriers, h)}
        self.seq = 0
        self.last = None              # newest Calibration
        self.lock = threading.Lock()
        self._init_warnings("reciprocity_calibrator")
        self.message_port_register_in(pmt.intern("csi"))
        self.message_port_register_in(pmt.intern("cmd"))
        self.message_port_register_out(pmt.intern("calib"))
        self.set_msg_handler(pmt.intern("csi"), self._csi)
        self.set_msg_handler(pmt.intern("cmd"), self._cmd)

    def set_method(self, method):
        if method not in rc.ALGORITHMS:
            raise UserError(f"unknown method {method!r}")
        self.method = method

    def _csi(self, msg):
        c = self._parse_csi(msg)
        if c is None or c["purpose"] != "calibration":
            return
        m, n = c["bs"], c["ue"]
        with self.lock:
            t = c["time"]
            if t not in self.pending:
                if len(self.pending) >= self.max_pending:
                    oldest = min(self.pending)
                    self._warn(f"calibration round at t={oldest} never completed "
                               f"({len(self.pending[oldest])} of {2 * self.M * self.N} estimates)")
                    del self.pending[oldest]
                self.pending[t] = {}
            self.pending[t][(c["link"], m, n)] = (c["subcarriers"], c["h"])
            complete = len(self.pending[t]) == 2 * self.M * self.N
            if complete:
                rnd = self.pending.pop(t)
                for old in [k for k in self.pending if k < t]:
                    del self.pending[old]
        if complete:
            self._estimate(t, rnd)

    def _estimate(self, t, rnd):
        s = rnd[("dl", 0, 0)][0]
        if any(not np.array_equal(v[0], s) for v in rnd.values()):
            self._warn(f"round at t={t}: links use different subcarriers")
            return
        G = np.array([[rnd[("dl", m, n)][1] for n in range(self.N)] for m in range(self.M)])
        H = np.array([[rnd[("ul", m, n)][1] for n in range(self.N)] for m in range(self.M)])
        try:
            cal = rc.estimate(self.method, G, H, s, self.df)
        except UserError as e:
            self._warn(f"round at t={t}: {e}")
            return
        self.last = cal
        self.message_port_pub(pmt.intern("calib"), calibration_message(cal, t, self.seq))
        self.seq += 1

    def _cmd(self, msg):
        if not (pmt.is_symbol(msg) and pmt.symbol_to_string(msg) == "calibrate"):
            self._warn("cmd: only 'calibrate' is understood")
            return
        with self.lock:
            if not self.pending:
                self.log.warn("calibrate: no calibration round received")
                return
            t = max(self.pending)
            rnd = self.pending[t]
            missing = [f"{k[0]} {k[1]}-{k[2]}" for k in
                       ((link, m, n) for link in ("dl", "ul") for m in range(self.M)
                        for n in range(self.N)) if k not in rnd]
        if missing:
            self.log.warn(f"calibrate: round at t={t} lacks {len(missing)} estimates "
                          f"({', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''})")
            return
        self._estimate(t, rnd)


# ---------------------------------------------------------------- tracker
class reciprocity_tracker(gr.basic_block, _Counted):
    """Tracks the coefficients between calibrations from one-way pilots (eqs. 30-33).

    Inputs: "csi" (the same CSI stream as the calibrator: uplink messages of
    calibration rounds give each link's phase reference, uplink "tracking"
    messages (SRS) the drift) and "calib" (the calibrator's output). Every
    tracking pilot moves its link's phase; once all links have a pilot at the
    same time, "calib" publishes the tracked c_pair, c_bs and c_ue (TLS over
    the tracked pairs) and each link's one-way frequency offset (freq_hz).
    Pilots that arrive before their calibration are kept (as phases, not
    channels) and replayed. Needs a pilot rate above twice the largest
    frequency offset between a BS and a UE node (Nyquist)."""

    def __init__(self, num_bs=8, num_ue=8, max_pilots=100000):
        gr.basic_block.__init__(self, name="reciprocity_tracker", in_sig=None, out_sig=None)
        self.M, self.N = int(num_bs), int(num_ue)
        self.max_pilots = int(max_pilots)
        self.refs = {}        # (m, n) -> {time: h} uplink of calibration rounds
        self.pilots = []      # (time, m, n, {ref time: phase}) seen so far
        self.trackers = None  # (m, n) -> PhaseTracker
        self.cal = None
        self.round = {}       # time -> set of links with a pilot then
        self.seq = 0
        self.lock = threading.Lock()
        self._init_warnings("reciprocity_tracker")
        for p in ("csi", "calib"):
            self.message_port_register_in(pmt.intern(p))
        self.message_port_register_out(pmt.intern("calib"))
        self.set_msg_handler(pmt.intern("csi"), self._csi)
        self.set_msg_handler(pmt.intern("calib"), self._calib)

    def _csi(self, msg):
        c = self._parse_csi(msg)
        if c is None or c["link"] != "ul":
            return
        key = (c["bs"], c["ue"])
        with self.lock:
            if c["purpose"] == "calibration":
                refs = self.refs.setdefault(key, {})
                refs[c["time"]] = c["h"]
                while len(refs) > 4:              # a few recent rounds suffice
                    del refs[min(refs)]
                return
            refs = self.refs.get(key)
            if not refs:
                self._warn(f"tracking pilot of BS {key[0]} - UE {key[1]} before any calibration round")
                return
            phases = {t0: float(rc.pilot_phase(c["h"], h0)) for t0, h0 in refs.items()}
            if self.cal is None or self.cal["time"] not in phases:
                if len(self.pilots) >= self.max_pilots:
                    self._warn("too many pilots waiting for a calibration: oldest dropped")
                    self.pilots.pop(0)
                self.pilots.append((c["time"], key, phases))
                return
            out = self._apply(c["time"], key, phases[self.cal["time"]])
        if out is not None:
            self.message_port_pub(pmt.intern("calib"), out)

    def _calib(self, msg):
        try:
            cal = parse_calibration(msg)
        except Exception as e:  # noqa: BLE001  (any malformed PMT)
            self._warn(f"calib: {e}")
            return
        outs = []
        with self.lock:
            self.cal = cal
            t0 = cal["time"]
            self.trackers = {(m, n): rc.PhaseTracker(cal["c_pair"][m, n], 0.0, t0)
                             for m in range(self.M) for n in range(self.N)}
            self.round = {}
            waiting = sorted((p for p in self.pilots if p[0] > t0), key=lambda p: p[0])
            self.pilots = [p for p in self.pilots if p[0] > t0 and t0 not in p[2]]
            for t, key, phases in waiting:
                if t0 in phases:
                    o = self._apply(t, key, phases[t0])
                    if o is not None:
                        outs.append(o)
        for o in outs:
            self.message_port_pub(pmt.intern("calib"), o)

    def _apply(self, t, key, phase):
        """Update one link; returns a message when a pilot round is complete."""
        tr = self.trackers[key]
        if t <= tr.t_last:
            self._warn(f"pilot of BS {key[0]} - UE {key[1]} at t={t} is not newer than {tr.t_last}")
            return None
        tr.update(t, phase)
        done = self.round.setdefault(t, set())
        done.add(key)
        if len(done) < self.M * self.N:
            return None
        del self.round[t]
        for old in [k for k in self.round if k < t]:
            del self.round[old]
        c_pair = np.array([[self.trackers[(m, n)].coefficient(t) for n in range(self.N)]
                           for m in range(self.M)])
        freq = np.array([[self.trackers[(m, n)].freq_hz for n in range(self.N)]
                         for m in range(self.M)], float)
        c_bs, c_ue = rc.tls_from_pairs(c_pair)
        cal = rc.Calibration(c_bs, c_ue, None, c_pair, "tracked")
        self.seq += 1
        return calibration_message(cal, t, self.seq, {"freq_hz": freq})


# ---------------------------------------------------------------- logger
class reciprocity_logger(gr.basic_block):
    """Calibration messages -> JSON lines (appended, flushed and synced per message)."""

    def __init__(self, path="reciprocity.jsonl"):
        gr.basic_block.__init__(self, name="reciprocity_logger", in_sig=None, out_sig=None)
        self.path = path
        self.count = 0
        self.last_time = None
        self.lock = threading.Lock()
        d = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(d):
            raise UserError(f"reciprocity log {path}: directory {d} does not exist")
        self.f = open(path, "a", encoding="utf-8")
        self.message_port_register_in(pmt.intern("calib"))
        self.set_msg_handler(pmt.intern("calib"), self._calib)

    def _calib(self, msg):
        c = parse_calibration(msg)
        rec = {"time": c["time"], "seq": c["seq"], "method": c["method"]}
        for k in ("c_bs", "c_ue", "c_pair"):
            v = np.asarray(c[k]).ravel()
            rec[k] = [[float(x.real), float(x.imag)] for x in v]
        for k in ("tau", "freq_hz"):
            if k in c:
                rec[k] = np.asarray(c[k]).ravel().tolist()
        with self.lock:
            self.f.write(json.dumps(rec) + "\n")
            self.f.flush()
            os.fsync(self.f.fileno())
            self.count += 1
            self.last_time = c["time"] if self.last_time is None else max(self.last_time, c["time"])

    def stop(self):
        with self.lock:
            self.f.close()
        return True


def read_log(path):
    """The records of a reciprocity_logger file (complex values back as numpy arrays)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            for k in ("c_bs", "c_ue", "c_pair"):
                r[k] = np.array([complex(a, b) for a, b in r[k]])
            out.append(r)
    return out


# ---------------------------------------------------------------- simulated node
class reciprocity_node_sim(gr.basic_block):
    """One node of a simulated distributed system (Table I of the paper), as a
    message source: what the node measures, as CSI messages on "csi".

    Every node builds the same seeded world (gains, LOs, positions, noise), so
    separate processes agree on it. A UE node reports the downlink of every
    BS to it, a BS node the uplink of every UE; both in the calibration round
    at t = 0; BS nodes then report uplink tracking pilots (SRS) every
    `pilot_period` slots up to `slots`, as fast as the receivers take them.
    Then it idles (`finished` is set, `last_time` is its last pilot time) until
    the flowgraph stops."""

    def __init__(self, role="bs", index=0, num_bs=8, num_ue=8, seed=1, tx_power_dbm=10.0,
                 slots=200, pilot_period=2, freq_drift_hz_s=0.0):
        gr.basic_block.__init__(self, name="reciprocity_node_sim", in_sig=None, out_sig=None)
        if role not in ("bs", "ue"):
            raise UserError(f"role must be 'bs' or 'ue', not {role!r}")
        n_nodes = num_bs if role == "bs" else num_ue
        if not 0 <= int(index) < n_nodes:
            raise UserError(f"{role} node index {index} outside 0..{n_nodes - 1}")
        self.role, self.index = role, int(index)
        self.sim = rc.ReciprocitySim(M=int(num_bs), N=int(num_ue), seed=int(seed),
                                     freq_drift_hz_s=float(freq_drift_hz_s))
        self.power, self.slots, self.period = float(tx_power_dbm), int(slots), int(pilot_period)
        self.message_port_register_out(pmt.intern("csi"))
        self.finished = threading.Event()
        self.last_time = 0.0 if role == "ue" else \
            (int(slots) // int(pilot_period)) * int(pilot_period) * self.sim.slot_s
        self.message_port_register_in(pmt.intern("go"))
        self.set_msg_handler(pmt.intern("go"), self._go)
        self.sent = 0

    def _emit(self, link, m, n, t, h, purpose):
        self.message_port_pub(pmt.intern("csi"), csi_message(
            link, m, n, t, self.sim.subcarriers(), h, purpose))
        self.sent += 1

    def _go(self, _msg):
        self._run()

    def _run(self):
        if self.sent:
            return
        sim, me = self.sim, self.index
        G, H = sim.channels(self.power, 0.0)
        for other in range(sim.N if self.role == "bs" else sim.M):
            if self.role == "bs":
                self._emit("ul", me, other, 0.0, H[me, other], "calibration")
            else:
                self._emit("dl", other, me, 0.0, G[other, me], "calibration")
        for slot in range(self.period, self.slots + 1, self.period) if self.role == "bs" else ():
            t = slot * sim.slot_s
            _, H = sim.channels(self.power, t)   # every node draws alike: same world
            for n in range(sim.N):
                self._emit("ul", me, n, t, H[me, n], "tracking")
        # No "done" to the scheduler: its propagation ends fan-in neighbours
        # (a calibrator fed by many nodes) while other nodes still send, and
        # can drop messages still queued. A node runs until stopped.
        self.finished.set()

    def start(self):
        # emit from the block's own scheduler thread (a message to itself), not
        # from a thread of ours racing the flowgraph's start-up
        self._post(pmt.intern("go"), pmt.PMT_T)
        return True
