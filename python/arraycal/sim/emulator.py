#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Channel emulator: a moving transmitter seen by an antenna array, with GNSS.

The transmitter's samples go to every element over the geometry of the
moment: delay d_k / c (applied on the centred DFT grid of each packet-long
block, exact for back-to-back packets, since the stream is then periodic),
gain lambda / (4 pi d_k) exp(-j 2 pi d_k / lambda) times the element's
hardware offset eps_k, a ground reflection from an image source, one common
carrier offset and phase noise (the array shares its LO), and AWGN. The
transmitter and the array also "log" UBX as ZED-F9P receivers would (RTK
noise on the transmitter's positions), so a simulation runs the real GNSS
path. The first output sample carries an rx_time tag in the GPS timescale, as
a USRP whose time was set from GNSS (receive chain time offset 0).

The geometry of each packet is computed here; the sample work (delays, the
LO, the noise) is the C++ channel_model, so a campaign emulates faster than
real time.
"""

import math
import os

import numpy as np
import pmt
import pymap3d
from gnuradio import gr

from ..calibration import geometry
from .. import timeutil
from ..gnss import ubxgen
from .. import arraycal_python as arraycal_kernels

C = geometry.C
DEFAULT_ORIGIN = (63.4181, 10.4012, 52.0)  # NTNU Gloeshaugen, the array's GNSS antenna
DEFAULT_START = "2026-06-01T10:00:00Z"


# ---- trajectories: f(t, duration) -> ENU (m) of the transmitter's antenna -------
def turntable(radius=5.0, span_deg=90.0, height=0.0, heading_deg=0.0, sweeps=1.0):
    """Chamber: the probe sweeps -span..+span around the array at a fixed range."""
    def pos(t, T):
        a = math.radians(heading_deg - span_deg * math.cos(2 * math.pi * sweeps * t / T))
        return np.array([radius * math.sin(a), radius * math.cos(a), height])
    return pos


def snake_walk(near=12.0, far=30.0, width=24.0, legs=4, height=0.0, heading_deg=0.0):
    """Outdoor: a walker zig-zags across the field of view, range growing."""
    def pos(t, T):
        u = min(max(t / T, 0.0), 1.0) * legs
        leg = min(int(u), legs - 1)
        f = u - leg
        x = (-width / 2 + width * f) if leg % 2 == 0 else (width / 2 - width * f)
        y = near + (far - near) * (leg + f) / legs
        h = math.radians(heading_deg)
        return np.array([x * math.cos(h) + y * math.sin(h), -x * math.sin(h) + y * math.cos(h),
                         height])
    return pos


def drone_orbit(radius=25.0, altitude=15.0, span_deg=160.0, heading_deg=0.0):
    """A drone flies an arc in front of the array at constant altitude and back."""
    def pos(t, T):
        a = math.radians(heading_deg - span_deg / 2 * math.cos(2 * math.pi * t / T))
        return np.array([radius * math.sin(a), radius * math.cos(a), altitude])
    return pos


SCENARIOS = {"turntable": turntable, "snake": snake_walk, "orbit": drone_orbit}


def make_trajectory(name, heading_deg=0.0, **kw):
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario '{name}': use {', '.join(SCENARIOS)}")
    return SCENARIOS[name](heading_deg=heading_deg, **kw)


def random_offsets(elements, reference, seed=1, amp_std_db=1.0):
    """Hardware offsets for simulations: uniform phase, amplitude N(0, amp_std_db)."""
    rng = np.random.default_rng(seed)
    out = {}
    for e in elements:
        if e.id == reference:
            out[e.id] = 1.0 + 0j
        else:
            out[e.id] = 10 ** (rng.normal(0, amp_std_db) / 20) * np.exp(
                1j * rng.uniform(-np.pi, np.pi))
    return out


class channel_emulator(gr.sync_block):
    """Transmitter samples in, one stream per receiver channel out (see the module doc).

    array: array file path or geometry.ArrayGeometry (its heading is the truth).
    scenario: "turntable", "snake" or "orbit", or a callable f(t, T) -> ENU.
    offsets: {element id: complex} hardware offsets; None: random (seeded).
    snr_db: per-sample SNR of the LoS at the scenario's mean range.
    reflection_gamma: the ground's complex reflection coefficient (image source
    mirrored in the ground plane ground_height_m below the array's GNSS antenna);
    None: 0 for the turntable (an anechoic chamber), -0.3 outdoors. Not resolvable
    from the LoS (its path is at most metres longer), it biases each element by the
    two-ray factor. ground_permittivity: a complex relative permittivity (eps' - j 60
    sigma lambda) instead: Fresnel's coefficient at each path's grazing angle, for
    ground_polarisation 'v' or 'h'.
    duration_s: stop after this much (whole packets); 0 runs on forever.
    tx_ubx / rx_ubx: files to write the transmitter's / array's UBX logs to.
    """

    def __init__(self, array, freq_hz=1.3e9, samp_rate=4e6, scenario="snake", duration_s=60.0,
                 offsets=None, snr_db=20.0, cfo_hz=1200.0, phase_noise_deg=0.5,
                 reflection_gamma=None, ground_height_m=1.5, packet_len=1278,
                 origin=DEFAULT_ORIGIN, start_utc=DEFAULT_START, gnss_rate=5.0,
                 gnss_sigma_m=0.01, tx_ubx="", rx_ubx="", seed=1, progress=None, num_chans=0,
                 ground_permittivity=None, ground_polarisation="v"):
        arr = array if isinstance(array, geometry.ArrayGeometry) else geometry.load_array(array)
        self.array = arr
        self.nch = max(arr.channels) + 1
        if num_chans:
            if num_chans < self.nch:
                raise ValueError(f"the array file uses channel {self.nch - 1}; "
                                 f"num_chans={num_chans} is too few")
            self.nch = int(num_chans)
        gr.sync_block.__init__(self, name="channel_emulator", in_sig=[np.complex64],
                               out_sig=[np.complex64] * self.nch)
        self.K = int(packet_len)
        # whole packets (each is delayed on its own DFT grid); the draws depend only on
        # the seed and the sample index, so work calls of any size give the same signal.
        # Large buffers: one call (Python's overhead) per many packets
        self.set_output_multiple(self.K)
        for c in range(self.nch):
            self.set_min_output_buffer(c, self.K * 64)  # (the all-ports form logs a line)
        self.fs, self.freq = float(samp_rate), float(freq_hz)
        self.lam = C / self.freq
        self.traj = make_trajectory(scenario, arr.heading_deg) if isinstance(
            scenario, str) else scenario
        self.T = float(duration_s) if duration_s and duration_s > 0 else 600.0
        self.limit = int(round(duration_s * self.fs / self.K)) * self.K if duration_s else 0
        self.elem = arr.element_enu()
        self.eps = offsets or random_offsets(arr.elements, arr.reference, seed)
        self.eps_vec = np.array([complex(self.eps.get(e.id, 1.0)) for e in arr.elements])
        if reflection_gamma is None:
            # an anechoic chamber has no ground; outdoors the ground reflects
            reflection_gamma = 0.0 if scenario == "turntable" else -0.3
        self.gamma, self.ground = complex(reflection_gamma), float(ground_height_m)
        if not self.ground > 0:
            raise ValueError(f"ground_height_m must be positive, not {ground_height_m}")
        self.permittivity = None if ground_permittivity is None else complex(
            ground_permittivity)
        if ground_polarisation not in ("v", "h"):
            raise ValueError(f"ground_polarisation must be 'v' or 'h', not "
                             f"{ground_polarisation!r}")
        self.polarisation = ground_polarisation
        self.cfo = float(cfo_hz)
        self.pn = math.radians(phase_noise_deg) / math.sqrt(self.fs)  # random walk per sample
        self.rng = np.random.default_rng(seed)
        ranges = [np.linalg.norm(self.traj(t, self.T)) for t in np.linspace(0, self.T, 64)]
        self.scale = 4 * math.pi * float(np.mean(ranges)) / self.lam
        self.sigma = math.sqrt(10 ** (-snr_db / 10) / 2)
        # the sample work in C++: delays, the common LO and the noise
        self.npaths = 2 if (self.gamma or self.permittivity is not None) else 1
        self._channel = arraycal_kernels.channel_model(
            self.K, [e.channel for e in arr.elements], self.nch, self.npaths,
            2 * math.pi * self.cfo / self.fs, self.pn, self.sigma, int(seed))
        self.origin = tuple(origin)
        self.start_gps = timeutil.utc_to_gps(timeutil.parse_utc(start_utc))
        self.gnss_rate, self.gnss_sigma = float(gnss_rate), float(gnss_sigma_m)
        self._next_gnss = 0
        self._next_rx = 0
        self._tx_f = open(tx_ubx, "ab") if tx_ubx else None
        self._rx_f = open(rx_ubx, "ab") if rx_ubx else None
        self.progress = progress
        self.message_port_register_out(pmt.intern("tx_ubx"))
        self.message_port_register_out(pmt.intern("rx_ubx"))
        self._tagged = False
        self._spec = None

    def truth(self):
        """The offsets d_eps_k = eps_k / eps_ref a calibration should find."""
        ref = self.eps_vec[self.array.ref_index()]
        return {e.id: complex(self.eps_vec[k] / ref) for k, e in enumerate(self.array.elements)}

    def _ubx(self, until_s):
        """Log GNSS epochs up to `until_s` (relative time)."""
        while self._next_gnss / self.gnss_rate <= until_s:
            t = self._next_gnss / self.gnss_rate
            e, n, u = self.traj(min(max(t, 0.0), self.T), self.T) + self.rng.normal(
                0, self.gnss_sigma, 3) * np.array([1.0, 1.0, 1.5])
            lat, lon, h = pymap3d.enu2geodetic(e, n, u, *self.origin)
            data = ubxgen.epoch(self.start_gps + t, lat, lon, h, carr_soln=2,
                                h_acc=self.gnss_sigma * 1.4, v_acc=self.gnss_sigma * 2)
            self._emit(self._tx_f, "tx_ubx", data)
            self._next_gnss += 1
        while self._next_rx <= until_s:
            data = ubxgen.epoch(self.start_gps + self._next_rx, *self.origin, carr_soln=2,
                                h_acc=0.01, v_acc=0.015)
            self._emit(self._rx_f, "rx_ubx", data)
            self._next_rx += 1

    def _emit(self, f, port, data):
        if f is not None:
            f.write(data)
            f.flush()
        self.message_port_pub(pmt.intern(port), pmt.cons(
            pmt.PMT_NIL, pmt.init_u8vector(len(data), list(data))))

    def work(self, input_items, output_items):
        x = input_items[0]
        n = len(x) - len(x) % self.K
        start = self.nitems_read(0)
        if self.limit:
            n = min(n, self.limit - start)
            if n <= 0:
                self._ubx(start / self.fs + 1.0 / self.gnss_rate)
                return -1
        if n <= 0:
            return 0
        self._work_block(x[:n], output_items, start)
        self._ubx((start + n) / self.fs + 1.0 / self.gnss_rate)
        if self.progress:
            self.progress(start + n)
        return n

    def _paths(self, tx):
        """Per packet and element: complex gains and delays (samples) of the LoS and,
        with a ground, of the reflection from the image source."""
        d = np.sqrt(np.sum((tx[:, None, :] - self.elem[None, :, :]) ** 2, axis=2))  # (B, N)
        g = self.lam / (4 * np.pi * d) * np.exp(-2j * np.pi * d / self.lam) * \
            self.eps_vec[None, :] * self.scale
        out = [(g, d / C * self.fs)]
        if self.gamma or self.permittivity is not None:
            img = tx.copy()
            img[:, 2] = -2 * self.ground - tx[:, 2]
            v = img[:, None, :] - self.elem[None, :, :]
            dr = np.sqrt(np.sum(v * v, axis=2))
            out.append((self.reflection(np.arcsin(np.clip(-v[..., 2] / dr, -1, 1))) *
                        self.lam / (4 * np.pi * dr) * np.exp(-2j * np.pi * dr / self.lam) *
                        self.eps_vec[None, :] * self.scale, dr / C * self.fs))
        return out

    def reflection(self, psi):
        """The ground's reflection coefficient at grazing angle psi (rad)."""
        if self.permittivity is None:
            return np.full(np.shape(psi), self.gamma, complex)
        s, c2 = np.sin(psi), np.cos(psi) ** 2
        root = np.sqrt(self.permittivity - c2)
        if self.polarisation == "v":
            return (self.permittivity * s - root) / (self.permittivity * s + root)
        return (s - root) / (s + root)

    def _work_block(self, x, outs, start):
        """Whole packets from absolute sample `start`: the geometry of each packet's
        moment here (per packet, vectorised), the sample work in C++ (channel_model:
        each path's delay on the packet's centred DFT grid, the elements summed onto
        their channels, the common LO's carrier offset and phase noise, AWGN)."""
        n = len(x) - len(x) % self.K
        if not self._tagged:
            whole = math.floor(self.start_gps)
            for c in range(self.nch):
                self.add_item_tag(c, 0, pmt.intern("rx_time"), pmt.make_tuple(
                    pmt.from_uint64(int(whole)), pmt.from_double(self.start_gps - whole)))
            self._tagged = True
        B = n // self.K
        t = (start + np.arange(B) * self.K) / self.fs
        tx = np.array([self.traj(ti, self.T) for ti in t]).reshape(B, 3)
        paths = self._paths(tx)
        gains = np.stack([g for g, _ in paths], axis=2).astype(np.complex64)   # (B, N, P)
        delays = np.stack([tau for _, tau in paths], axis=2)                   # samples
        self._channel.process(np.ascontiguousarray(x[:n], np.complex64), gains, delays,
                              int(start), [o[:n] for o in outs])

    def stop(self):
        for f in (self._tx_f, self._rx_f):
            if f is not None and not f.closed:
                f.flush()
                os.fsync(f.fileno())
                f.close()
        return True
