#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Calibration documents (schema arraycal.calibration/1) and their store.

A store is a directory of JSON documents, one per calibration, named by
creation time; documents are written atomically and never overwritten, so the
history stays. Default store: $ARRAYCAL_STORE, else
$XDG_DATA_HOME/arraycal/calibrations (~/.local/share/arraycal/calibrations).
"""

import json
import math
import os
import time

import numpy as np

from .. import timeutil
from ..errors import UserError
from ..fileio import atomic_write_json

SCHEMA = "arraycal.calibration/2"      # /2: verdict and simulated (docs/design.md)
READABLE = ("arraycal.calibration/1", SCHEMA)
FREQ_TOL_HZ = 1.0
RATE_TOL = 1e-6      # relative
GAIN_TOL_DB = 0.5


def default_store():
    if os.environ.get("ARRAYCAL_STORE"):
        return os.environ["ARRAYCAL_STORE"]
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "arraycal", "calibrations")


def make_document(array, result, sample_rate, gain_db=None, serials=(), method="fft",
                  quality=None, created=None):
    elements = []
    for e in result.elements:
        elements.append({"id": e.id, "channel": e.channel,
                         "offset": {"re": float(np.real(e.offset)), "im": float(np.imag(e.offset))},
                         "amp_db": float(e.amp_db), "phase_deg": float(e.phase_deg),
                         "phase_std_deg": float(e.phase_std_deg),
                         "amp_std_db": float(e.amp_std_db), "n": int(e.n)})
    q = {"frames_seen": result.frames_seen, "frames_used": result.frames_used,
         "rejected": result.rejected, "heading_deg": result.heading_deg,
         "heading_correction_deg": result.heading_correction_deg,
         "joint_geometry": result.joint}
    if result.heading_std_deg is not None:
        q["heading_std_deg"] = result.heading_std_deg
    if result.lever_arm_correction_m is not None:
        q["lever_arm_correction_m"] = result.lever_arm_correction_m
        q["lever_arm_std_m"] = result.lever_arm_std_m
    if result.joint:
        q["time_offset_s"] = result.time_offset_s
        q["time_offset_std_s"] = result.time_offset_std_s
    q.update(quality or {})
    return {"schema": SCHEMA,
            "created": timeutil.format_utc(created if created is not None else time.time()),
            "array": array.name,
            "device_serials": list(serials),
            "freq_hz": float(result.freq_hz),
            "sample_rate": float(sample_rate),
            "gain_db": None if gain_db is None else float(gain_db),
            "reference": result.reference,
            "elements": elements,
            "method": method,
            "quality": q}


def validate(doc, where="calibration"):
    if not isinstance(doc, dict) or doc.get("schema") not in READABLE:
        raise UserError(f"{where}: not an {SCHEMA} document")
    for key in ("created", "array", "freq_hz", "sample_rate", "reference", "elements"):
        if key not in doc:
            raise UserError(f"{where}: missing '{key}'")
    chans = set()
    for i, e in enumerate(doc["elements"]):
        try:
            z = complex(e["offset"]["re"], e["offset"]["im"])
            ch = int(e["channel"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{where}: element {i} lacks channel or offset re/im") from None
        if not (math.isfinite(z.real) and math.isfinite(z.imag)) or z == 0:
            raise UserError(f"{where}: element {e.get('id', i)} has an unusable offset {z}")
        if ch in chans:
            raise UserError(f"{where}: channel {ch} appears twice")
        chans.add(ch)
    return doc


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise UserError(f"calibration '{path}' not found") from None
    except json.JSONDecodeError as e:
        raise UserError(f"calibration '{path}': not valid JSON (line {e.lineno})") from None
    return validate(doc, path)


def weights(doc, num_chans):
    """Correction weight 1 / d_eps per receiver channel (1 for channels without an entry)."""
    w = np.ones(num_chans, complex)
    for e in doc["elements"]:
        ch = int(e["channel"])
        if ch >= num_chans:
            raise UserError(f"calibration for channel {ch}, but the flowgraph has "
                            f"{num_chans} channel(s)")
        w[ch] = 1.0 / complex(e["offset"]["re"], e["offset"]["im"])
    return w


def mismatches(doc, freq_hz=None, sample_rate=None, gain_db=None, serials=None):
    """Why a document does not fit a radio's settings (empty: it fits)."""
    why = []
    if freq_hz is not None and abs(doc["freq_hz"] - freq_hz) > FREQ_TOL_HZ:
        why.append(f"frequency {doc['freq_hz'] / 1e6:.6f} MHz != {freq_hz / 1e6:.6f} MHz")
    if sample_rate is not None and abs(doc["sample_rate"] - sample_rate) > RATE_TOL * sample_rate:
        why.append(f"sample rate {doc['sample_rate']:g} != {sample_rate:g}")
    if gain_db is not None:
        g = doc.get("gain_db")
        if g is None or abs(g - gain_db) > GAIN_TOL_DB:
            why.append(f"gain {g} dB != {gain_db:g} dB")
    if serials:
        have = sorted(doc.get("device_serials") or [])
        if have != sorted(serials):
            why.append(f"serials {have or 'none'} != {sorted(serials)}")
    return why


class Store:
    def __init__(self, root=None):
        self.root = os.fspath(root or default_store())

    def add(self, doc):
        """Write a new document; never overwrites. Returns its path."""
        validate(doc)
        os.makedirs(self.root, exist_ok=True)
        stamp = doc["created"].replace(":", "").replace("-", "").split(".")[0]
        base = f"{stamp}Z-{_slug(doc['array'])}-{doc['freq_hz'] / 1e6:.3f}MHz"
        path = os.path.join(self.root, base + ".json")
        n = 1
        while os.path.exists(path):
            n += 1
            path = os.path.join(self.root, f"{base}-{n}.json")
        atomic_write_json(path, doc)
        return path

    def entries(self):
        """[(path, doc)] oldest first; unreadable files are skipped."""
        if not os.path.isdir(self.root):
            return []
        out = []
        for name in sorted(os.listdir(self.root)):
            if not name.endswith(".json"):
                continue
            p = os.path.join(self.root, name)
            try:
                out.append((p, load(p)))
            except UserError:
                continue
        out.sort(key=lambda e: (e[1]["created"], _sequence(e[0])))
        return out

    def find(self, ref):
        """A document by path, file name, or its index in `arraycal cal list` (1 = oldest)."""
        if os.path.isfile(ref):
            return ref, load(ref)
        entries = self.entries()
        if ref.isdigit() and 1 <= int(ref) <= len(entries):
            return entries[int(ref) - 1]
        for p, d in entries:
            if os.path.basename(p) in (ref, ref + ".json"):
                return p, d
        raise UserError(f"no calibration '{ref}' in {self.root}")

    def newest_match(self, freq_hz, sample_rate, gain_db=None, serials=None, array=None):
        entries = self.entries()
        if array:
            entries = [e for e in entries if e[1]["array"] == array]
        if not entries:
            raise UserError(f"no calibration{' for array ' + array if array else ''} in "
                            f"{self.root}")
        reasons = []
        for p, d in reversed(entries):
            why = mismatches(d, freq_hz, sample_rate, gain_db, serials)
            if not why:
                return p, d
            reasons.append(why)
        raise UserError(f"none of the {len(entries)} calibration(s) in {self.root} matches "
                        f"this radio; the newest differs in: {'; '.join(reasons[0])}")


def _sequence(path):
    """The -N suffix Store.add gives a second document of the same second (1 if none)."""
    stem = os.path.basename(path)[:-len(".json")]
    tail = stem.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1


def _slug(s):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(s))[:40] or "array"
