#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Simulated calibration campaigns with known truth (independent numpy model).

The transmitter's packets go to every element over the true geometry:
delay d_k / c applied exactly on the centred DFT grid of each packet
(packets are back to back, so each is the periodic continuation of the
last), gain lambda / (4 pi d_k) exp(-j 2 pi d_k / lambda) times the element's
hardware offset, an optional ground reflection (image source), common CFO
and phase noise, AWGN. Positions go into UBX logs with RTK-grade noise.
"""

import math
import os

import numpy as np
import pymap3d
import yaml

from gnuradio import arraycal
from gnuradio.arraycal import timeutil
from gnuradio.arraycal.calibration import geometry
from gnuradio.arraycal.gnss import ubxgen
from gnuradio.arraycal.radio.recording import RecordingWriter

C = 299792458.0
ORIGIN = (63.4181, 10.4012, 52.0)      # the array's GNSS antenna
GPS_START = timeutil.utc_to_gps(timeutil.parse_utc("2026-06-01T10:00:00Z"))


def turntable(radius=5.0, height=0.0, span_deg=90.0, heading_deg=0.0):
    """Transmitter on a circle around the array: -span..+span from boresight and back."""
    def pos(t, T):
        a = math.radians(heading_deg + span_deg * math.sin(2 * math.pi * t / T - math.pi / 2)
                         * -1)
        return np.array([radius * math.sin(a), radius * math.cos(a), height])
    return pos


def snake_walk(heading_deg=0.0, near=12.0, far=30.0, width=24.0, legs=4, height=0.0):
    """A walker zig-zagging across the array's field of view, legs at increasing range."""
    def pos(t, T):
        u = t / T * legs
        leg = min(int(u), legs - 1)
        f = u - leg
        x = (-width / 2 + width * f) if leg % 2 == 0 else (width / 2 - width * f)
        y = near + (far - near) * (leg + f) / legs
        h = math.radians(heading_deg)
        return np.array([x * math.cos(h) + y * math.sin(h), -x * math.sin(h) + y * math.cos(h),
                         height])
    return pos


def simulate(out_dir, array_doc, offsets, freq, fs, duration, trajectory, snr_db=20.0,
             cfo_hz=1200.0, phase_noise_deg=0.0, reflection=None, gnss_sigma_m=0.01,
             gnss_rate=5.0, seed=1, gaps=(), truncate_bytes=0, true_heading=None,
             file_heading=None, gain_db=40.0, serials=("SIMRX",), name="campaign",
             retune=None):
    """Write a campaign into out_dir; returns paths and the truth.

    array_doc: array file dict with the TRUE heading unless true_heading is given.
    offsets: {element id: complex hardware offset eps_k}.
    reflection: None or (gamma, ground_depth_m): image source mirrored below ground.
    gaps: [(start_s, length_s)] of samples lost as in a USRP overflow.
    file_heading: heading written in the array file (a compass error if it differs).
    retune: None or (start_s, freq2): from the packet at start_s on, the carrier is
    freq2 (a new capture at freq2, as a retuned receiver records it).
    """
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    arr = geometry.parse_array(dict(array_doc))
    if true_heading is None:
        true_heading = arr.heading_deg
    elem = arr.element_enu(true_heading)            # ENU relative to the GNSS antenna
    eps = np.array([offsets.get(e.id, 1.0) for e in arr.elements])
    lam = C / freq
    pkt = arraycal.packet().astype(np.complex128)
    K = len(pkt)
    X = np.fft.fft(pkt)
    kc = np.fft.fftfreq(K) * K
    n_pk = int(duration * fs / K)
    nch = max(e.channel for e in arr.elements) + 1
    sigma = math.sqrt(10 ** (-snr_db / 10) / 2)
    # reference path loss: unit received amplitude at the mean range
    ranges = [np.linalg.norm(trajectory(t, duration)) for t in np.linspace(0, duration, 50)]
    scale = 4 * math.pi * float(np.mean(ranges)) / lam

    rec = RecordingWriter(os.path.join(out_dir, name), fs, nch, freq, gain_db=gain_db,
                          serials=serials, description="simulated campaign")
    gap_samples = sorted((int(s * fs), int(l * fs)) for s, l in gaps)
    rec.new_capture(timeutil.gps_to_utc(GPS_START))
    phase = 0.0
    chunk = 256
    t_sample = 0      # samples elapsed (kept or lost)
    retune_pk = n_pk if retune is None else int(math.ceil(retune[0] * fs / K))
    bounds = sorted({0, n_pk} | ({retune_pk} if 0 < retune_pk < n_pk else set()))
    chunks = [(a, min(b, a + chunk)) for lo, hi in zip(bounds, bounds[1:])
              for a, b in [(x, hi) for x in range(lo, hi, chunk)]]
    for p0, p1 in chunks:
        if p0 == retune_pk:
            rec.new_capture(timeutil.gps_to_utc(GPS_START + t_sample / fs), retune[1])
        lam = C / (freq if p0 < retune_pk else retune[1])
        block = np.zeros((nch, (p1 - p0) * K), np.complex128)
        for p in range(p0, p1):
            t = (p * K) / fs
            tx = trajectory(t, duration)
            for k, e in enumerate(arr.elements):
                d = np.linalg.norm(tx - elem[k])
                g = lam / (4 * math.pi * d) * np.exp(-2j * math.pi * d / lam) * eps[k] * scale
                H = g * np.exp(-2j * math.pi * kc * (d / C * fs) / K)
                if reflection is not None:
                    gamma, depth = reflection
                    img = tx.copy()
                    img[2] = -2 * depth - tx[2]
                    dr = np.linalg.norm(img - elem[k])
                    gr = gamma * lam / (4 * math.pi * dr) * np.exp(-2j * math.pi * dr / lam) \
                        * eps[k] * scale
                    H = H + gr * np.exp(-2j * math.pi * kc * (dr / C * fs) / K)
                block[e.channel, (p - p0) * K:(p - p0 + 1) * K] = np.fft.ifft(X * H)
        n = block.shape[1]
        tt = (t_sample + np.arange(n)) / fs
        ph = 2 * np.pi * cfo_hz * tt + phase
        if phase_noise_deg:
            ph = ph + np.cumsum(rng.normal(0, math.radians(phase_noise_deg) / math.sqrt(fs), n))
        block *= np.exp(1j * ph)
        phase = ph[-1] - 2 * np.pi * cfo_hz * tt[-1]
        block += sigma * (rng.standard_normal(block.shape) + 1j * rng.standard_normal(block.shape))
        # lose samples in gaps; each gap starts a new capture with the right time
        pos = 0
        while gap_samples and gap_samples[0][0] < t_sample + n:
            g0, glen = gap_samples[0]
            cut = g0 - t_sample
            if cut > pos:
                rec.write(block[:, pos:cut])
            skip_to = cut + glen
            if skip_to > n:
                gap_samples[0] = (t_sample + n, skip_to - n)
                pos = n
                break
            gap_samples.pop(0)
            rec.new_capture(timeutil.gps_to_utc(GPS_START + (t_sample + skip_to) / fs))
            pos = skip_to
        if pos < n:
            rec.write(block[:, pos:])
        t_sample += n
    rec.close()
    if truncate_bytes:
        with open(rec.data_path, "r+b") as f:
            f.truncate(os.path.getsize(rec.data_path) - truncate_bytes)

    # GNSS: the transmitter's antenna track and the array's static antenna
    tx_ubx, rx_ubx = os.path.join(out_dir, "tx.ubx"), os.path.join(out_dir, "rx.ubx")
    with open(tx_ubx, "wb") as f:
        for i in range(int(duration * gnss_rate) + 2):
            t = i / gnss_rate - 0.5
            e, n_, u = trajectory(min(max(t, 0.0), duration), duration) + \
                rng.normal(0, gnss_sigma_m, 3) * np.array([1, 1, 1.5])
            lat, lon, h = pymap3d.enu2geodetic(e, n_, u, *ORIGIN)
            f.write(ubxgen.epoch(GPS_START + t, lat, lon, h, carr_soln=2, h_acc=gnss_sigma_m * 1.4,
                                 v_acc=gnss_sigma_m * 2))
    with open(rx_ubx, "wb") as f:
        for i in range(10):
            f.write(ubxgen.epoch(GPS_START + i * 0.2, *ORIGIN, carr_soln=2))
    doc = dict(array_doc)
    if file_heading is not None:
        doc["heading_deg"] = file_heading
    array_path = os.path.join(out_dir, "array.yaml")
    with open(array_path, "w") as f:
        yaml.safe_dump(doc, f)
    ref = arr.reference
    truth = {e.id: eps[k] / eps[arr.ref_index()] for k, e in enumerate(arr.elements)}
    return {"meta": rec.meta_path, "data": rec.data_path, "tx": tx_ubx, "rx": rx_ubx,
            "array": array_path, "truth": truth, "reference": ref, "samples": t_sample}


TWO_EL = {"name": "outdoor-2el", "heading_deg": 30.0, "gnss_antenna_m": [0.0775, -0.2, 0.3],
          "reference": "A",
          "elements": [{"id": "A", "channel": 0, "position_m": [0.0, 0.0, 0.0]},
                       {"id": "B", "channel": 1, "position_m": [0.155, 0.0, 0.0]}]}


def ula(n, spacing, heading=0.0):
    return {"name": f"ula{n}", "heading_deg": heading, "gnss_antenna_m": [0.0, 0.0, 0.0],
            "reference": "E0",
            "elements": [{"id": f"E{i}", "channel": i,
                          "position_m": [(i - (n - 1) / 2) * spacing, 0.0, 0.0]}
                         for i in range(n)]}
