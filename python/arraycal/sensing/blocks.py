#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Calibration-assisted sensing as GNU Radio message blocks.

sensing_range_doppler: CSI of one link (the reciprocity CSI messages) and the
calibrator's per-slot coefficients in; range-Doppler maps and detections out,
so a flowgraph chains calibration -> sensing.

Map (port "map"): a PDU, metadata dict (time of the frame's first slot, seq,
num_range K, num_velocity L, range_m and velocity_mps axes (f64vector), mti,
compensated) and an f32vector of the power in dB, L rows (velocity, ascending)
of K columns (range): a QT GUI Time Raster with L rows and K columns shows it
(through PDU to Tagged Stream).
Detections (port "detections"): dict time, seq, count, range_m, velocity_mps,
snr_db (f64vectors, strongest first).

sensing_link_sim: a simulated 2 BS x 1 UE system whose link BS 0 - UE 0 sees
the paper's scene (static LoS, a weak moving UAV, timing jitter, a drifting
frequency offset), as calibration-round CSI messages for the calibrator and
the sensor.
"""

import threading

import numpy as np
import pmt
from gnuradio import gr

from ..errors import UserError
from ..reciprocity.blocks import csi_message, parse_calibration, parse_csi
from . import core as sc
from .scenarios import BistaticLink


def _f64(v):
    v = np.asarray(v, float).ravel()
    return pmt.init_f64vector(v.size, v.tolist())


def parse_detections(msg):
    """Detections message -> list of dicts {range_m, velocity_mps, snr_db}."""
    get = lambda k: pmt.dict_ref(msg, pmt.intern(k), pmt.PMT_NIL)  # noqa: E731
    cols = [np.array(pmt.f64vector_elements(get(k))) for k in ("range_m", "velocity_mps", "snr_db")]
    return [{"range_m": r, "velocity_mps": v, "snr_db": s} for r, v, s in zip(*cols)]


class sensing_range_doppler(gr.basic_block):
    """Range-Doppler maps and targets of one link from its CSI (eqs. 34-35).

    Takes the CSI messages of link `link` ("ul": measured at the BS, or "dl")
    between BS `bs` and UE `ue` on "csi", and, when `compensate`, the
    calibrator's coefficients on "calib" (ML-TLS: the pair delay tau and the
    coefficient c_pair of every calibration round). A slot's CSI waits for the
    calibration of the same time; every `frame` slots (spaced symbol_period)
    the frame's timing and frequency offsets are removed
    (sensing.offsets_from_calibration, sensing.compensate), and the map and
    the detections (2D CA-CFAR at `pfa`, MTI if `mti`) are published.
    Malformed messages, frames with gaps and calibrations without tau are
    dropped with a counted warning."""

    def __init__(self, bs=0, ue=0, link="ul", subcarrier_spacing=120e3, symbol_period=125e-6,
                 carrier_frequency=26e9, frame=256, mti=True, pfa=1e-6, compensate=True,
                 max_targets=10):
        gr.basic_block.__init__(self, name="sensing_range_doppler", in_sig=None, out_sig=None)
        if link not in ("ul", "dl"):
            raise UserError(f"link must be 'ul' or 'dl', not {link!r}")
        if int(frame) < 16:
            raise UserError(f"a frame needs at least 16 slots, not {frame}")
        if int(bs) < 0 or int(ue) < 0:
            raise UserError("bs and ue are node indices >= 0")
        self.df = sc._positive("subcarrier spacing", subcarrier_spacing)
        self.T = sc._positive("symbol period", symbol_period)
        self.fc = sc._positive("carrier frequency", carrier_frequency)
        if not 0 < float(pfa) < 1:
            raise UserError(f"pfa must be in (0, 1), not {pfa}")
        self.bs, self.ue, self.link = int(bs), int(ue), link
        self.L, self.mti, self.pfa = int(frame), bool(mti), float(pfa)
        self.do_compensate, self.max_targets = bool(compensate), int(max_targets)
        self.csi = {}          # time -> (subcarriers, h)
        self.cal = {}          # time -> (tau, c_pair)
        self.slots = []        # matched (time, subcarriers, h, tau, c)
        self.seq = 0
        self.last_detections = []
        self.dropped = 0
        self.lock = threading.Lock()
        self.log = gr.logger("sensing_range_doppler")
        for p in ("csi", "calib"):
            self.message_port_register_in(pmt.intern(p))
        for p in ("map", "detections"):
            self.message_port_register_out(pmt.intern(p))
        self.set_msg_handler(pmt.intern("csi"), self._csi)
        self.set_msg_handler(pmt.intern("calib"), self._calib)

    def _warn(self, why):
        self.dropped += 1
        if self.dropped <= 5 or self.dropped % 1000 == 0:
            self.log.warn(f"dropped #{self.dropped}: {why}")

    def _csi(self, msg):
        try:
            c = parse_csi(msg)
        except ValueError as e:
            self._warn(f"csi: {e}")
            return
        if (c["link"], c["bs"], c["ue"]) != (self.link, self.bs, self.ue):
            return
        with self.lock:
            self.csi[c["time"]] = (c["subcarriers"], c["h"])
            ready = self._match()
        for fr in ready:
            self._process(fr)

    def _calib(self, msg):
        if not self.do_compensate:
            return
        try:
            cal = parse_calibration(msg)
        except Exception as e:  # noqa: BLE001  (any malformed PMT)
            self._warn(f"calib: {e}")
            return
        M, N = cal["c_pair"].shape
        if not (self.bs < M and self.ue < N):
            self._warn(f"calib: no link BS {self.bs} - UE {self.ue} in {M} x {N} nodes")
            return
        if "tau" not in cal:
            self._warn(f"calib at t={cal['time']}: method {cal['method']} gives no pair delay "
                       f"(tau); sensing needs ml-tls")
            return
        with self.lock:
            self.cal[cal["time"]] = (float(cal["tau"][self.bs, self.ue]),
                                     complex(cal["c_pair"][self.bs, self.ue]))
            ready = self._match()
        for fr in ready:
            self._process(fr)

    def _match(self):
        """Move matched slots into the frame; return the frames that are full."""
        keys = sorted(self.csi) if not self.do_compensate else \
            sorted(t for t in self.csi if t in self.cal)
        for t in keys:
            s, h = self.csi.pop(t)
            tau, c = self.cal.pop(t) if self.do_compensate else (0.0, 1.0)
            if self.slots and t <= self.slots[-1][0]:
                self._warn(f"slot at t={t} is not after the previous one")
                continue
            self.slots.append((t, s, h, tau, c))
        # unmatched leftovers older than the newest matched slot never match now
        if self.slots:
            newest = self.slots[-1][0]
            for d in (self.csi, self.cal):
                for t in [t for t in d if t < newest]:
                    del d[t]
                    self._warn(f"slot at t={t} had no partner (CSI or calibration)")
        for d in (self.csi, self.cal):
            while len(d) > 4 * self.L:
                del d[min(d)]
                self._warn("too many unmatched slots: oldest dropped")
        ready = []
        while len(self.slots) >= self.L:
            ready.append(self.slots[:self.L])
            self.slots = self.slots[self.L:]
        return ready

    def _process(self, fr):
        times = np.array([x[0] for x in fr])
        if np.max(np.abs(np.diff(times) - self.T)) > 1e-3 * self.T:
            self._warn(f"frame at t={times[0]}: slots not spaced {self.T:g} s (gaps?)")
            return
        s = fr[0][1]
        if any(len(x[1]) != len(s) or not np.array_equal(x[1], s) for x in fr):
            self._warn(f"frame at t={times[0]}: slots use different subcarriers")
            return
        steps = np.diff(s)
        if len(s) < 2 or not np.all(steps == steps[0]) or steps[0] <= 0:
            self._warn(f"frame at t={times[0]}: subcarriers are not an evenly spaced comb")
            return
        spacing = steps[0] * self.df
        G = np.array([x[2] for x in fr]).T                      # (K, L)
        try:
            if self.do_compensate:
                tau, fo = sc.offsets_from_calibration([x[3] for x in fr], [x[4] for x in fr],
                                                      self.T, self.link)
                H = sc.compensate(G, tau, fo, spacing, self.T, subcarriers=s / steps[0])
            else:
                H = G
            power, r, v = sc.range_doppler(H, spacing, self.T, self.fc, mti=self.mti)
            dets = sc.detect(H, spacing, self.T, self.fc, mti=self.mti, pfa=self.pfa,
                             max_targets=self.max_targets)
        except UserError as e:
            self._warn(f"frame at t={times[0]}: {e}")
            return
        meta = pmt.make_dict()
        for k, val in (("time", pmt.from_double(float(times[0]))), ("seq", pmt.from_long(self.seq)),
                       ("num_range", pmt.from_long(power.shape[0])),
                       ("num_velocity", pmt.from_long(power.shape[1])),
                       ("range_m", _f64(r)), ("velocity_mps", _f64(v)),
                       ("mti", pmt.from_bool(self.mti)),
                       ("compensated", pmt.from_bool(self.do_compensate))):
            meta = pmt.dict_add(meta, pmt.intern(k), val)
        db = (10 * np.log10(power.T + 1e-30)).astype(np.float32).ravel()
        self.message_port_pub(pmt.intern("map"),
                              pmt.cons(meta, pmt.init_f32vector(db.size, db.tolist())))
        det = pmt.make_dict()
        for k, val in (("time", pmt.from_double(float(times[0]))), ("seq", pmt.from_long(self.seq)),
                       ("count", pmt.from_long(len(dets))),
                       ("range_m", _f64([d["range_m"] for d in dets])),
                       ("velocity_mps", _f64([d["velocity_mps"] for d in dets])),
                       ("snr_db", _f64([d["snr_db"] for d in dets]))):
            det = pmt.dict_add(det, pmt.intern(k), val)
        self.last_detections = dets
        self.seq += 1
        self.message_port_pub(pmt.intern("detections"), det)


class sensing_link_sim(gr.basic_block):
    """A simulated 2 BS x 1 UE system measuring both ways in every slot.

    Link BS 0 - UE 0 sees a static LoS at los_range_m and a UAV at
    uav_range_m moving at uav_velocity_mps, uav_gain_db below the LoS; link
    BS 1 - UE 0 only its LoS. Each link has its own RF gains, a pair timing
    offset with jitter_ns (standard deviation) per slot and a one-way
    frequency offset drifting linearly from 0 to fo_max_hz over each frame.
    On start it sends, for frames x slots slots spaced 125 us, the downlink
    and uplink CSI of both links (purpose "calibration"), comb pilots every
    4th subcarrier of 120 kHz at 26 GHz; then it idles (`finished` is set)."""

    def __init__(self, frames=1, slots=256, num_pilots=400, seed=1, snr_db=25.0,
                 los_range_m=300.0, uav_range_m=365.0, uav_velocity_mps=-3.2, uav_gain_db=-35.0,
                 jitter_ns=10.0, fo_max_hz=550.0):
        gr.basic_block.__init__(self, name="sensing_link_sim", in_sig=None, out_sig=None)
        if int(frames) < 1 or int(slots) < 2 or int(num_pilots) < 2:
            raise UserError("need frames >= 1, slots >= 2 and num_pilots >= 2")
        for name, x in (("snr_db", snr_db), ("los_range_m", los_range_m),
                        ("uav_range_m", uav_range_m), ("uav_velocity_mps", uav_velocity_mps),
                        ("uav_gain_db", uav_gain_db), ("jitter_ns", jitter_ns),
                        ("fo_max_hz", fo_max_hz)):
            if not np.isfinite(float(x)):
                raise UserError(f"{name} must be finite")
        self.frames, self.L, self.K = int(frames), int(slots), int(num_pilots)
        self.seed, self.snr_db = int(seed), float(snr_db)
        self.scene = [[{"range_m": float(los_range_m), "velocity_mps": 0.0, "gain_db": 0.0},
                       {"range_m": float(uav_range_m), "velocity_mps": float(uav_velocity_mps),
                        "gain_db": float(uav_gain_db)}],
                      [{"range_m": float(los_range_m) + 40.0, "velocity_mps": 0.0,
                        "gain_db": 0.0}]]
        self.jitter, self.fo_max = float(jitter_ns) * 1e-9, float(fo_max_hz)
        self.sent = 0
        self.finished = threading.Event()
        self.message_port_register_out(pmt.intern("csi"))
        self.message_port_register_in(pmt.intern("go"))
        self.set_msg_handler(pmt.intern("go"), self._go)

    def _go(self, _msg):
        if self.sent:
            return
        rng = np.random.default_rng(self.seed + 7)
        for f in range(self.frames):
            meas = []
            for m, paths in enumerate(self.scene):
                tau = rng.uniform(-10e-9, 10e-9) + self.jitter * rng.standard_normal(self.L)
                fo = np.linspace(0.0, self.fo_max, self.L)
                # a frame is one stretch of the scene: the UAV keeps moving
                moved = [dict(p, range_m=p["range_m"] + p["velocity_mps"] * f * self.L * 125e-6)
                         for p in paths]
                link = BistaticLink(moved, K=self.K, L=self.L, tau=tau, fo=fo,
                                    snr_db=self.snr_db, seed=self.seed * 1000 + 10 * f + m)
                meas.append((link, *link.measure()))
            s = 4 * np.arange(self.K)
            for l in range(self.L):
                t = (f * self.L + l) * 125e-6
                for m, (link, G, H) in enumerate(meas):
                    for name, X in (("dl", G), ("ul", H)):
                        self.message_port_pub(pmt.intern("csi"), csi_message(
                            name, m, 0, t, s, X[:, l], "calibration"))
                        self.sent += 1
        self.finished.set()

    def start(self):
        # emit from the block's own scheduler thread (a message to itself)
        self._post(pmt.intern("go"), pmt.PMT_T)
        return True
