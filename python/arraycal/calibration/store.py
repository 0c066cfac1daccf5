#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Calibration documents (schema arraycal.calibration/2, /1 still read) and their store.

A store is a directory of JSON documents, one per calibration, named by
creation time; documents are written atomically under a name no other writer
can take (exclusive create), and never overwritten, so the history stays.
Default store: $ARRAYCAL_STORE, else $XDG_DATA_HOME/arraycal/calibrations
(~/.local/share/arraycal/calibrations).

Every document is validated when read. One that is unreadable or invalid is
listed as such with the reason (never skipped in silence); the Apply block
refuses to look past an invalid entry newer than the one it would load.
Schema /2 adds "verdict" {status good|suspect|failed, reasons, checks} and
"simulated"; a /1 document has no verdict and reads as "unverified".
"""

import json
import math
import numbers
import os
import time
from dataclasses import dataclass

import numpy as np

from .. import timeutil
from ..errors import UserError
from ..fileio import create_exclusive_json

SCHEMA = "arraycal.calibration/2"
SCHEMA_V1 = "arraycal.calibration/1"
SCHEMAS = (SCHEMA, SCHEMA_V1)
STATUSES = ("good", "suspect", "failed")
UNVERIFIED = "unverified"      # the status of a /1 document
READABLE = SCHEMAS
MAX_CHANNELS = 1024
FREQ_TOL_HZ = 1.0
RATE_TOL = 1e-6      # relative
GAIN_TOL_DB = 0.5


def default_store():
    if os.environ.get("ARRAYCAL_STORE"):
        return os.environ["ARRAYCAL_STORE"]
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "arraycal", "calibrations")


def make_document(array, result, sample_rate, gain_db=None, serials=(), method="fft",
                  quality=None, created=None, verdict=None, simulated=False):
    """The calibration document (schema /2: the verdict and simulated are set here or by
    the caller before it is stored)."""
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
    doc = {"schema": SCHEMA,
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
    if verdict is not None:
        doc["verdict"] = verdict
        doc["simulated"] = bool(simulated)
    return doc


def _real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check(ok, where, what):
    if not ok:
        raise UserError(f"{where}: {what}")


def validate(doc, where="calibration"):
    """The document if every field has the type and range a reader relies on; else
    UserError naming the first bad field."""
    _check(isinstance(doc, dict), where, "not a JSON object")
    _check(doc.get("schema") in SCHEMAS, where,
           f"schema {doc.get('schema')!r} is not one of {', '.join(SCHEMAS)}")
    for key in ("created", "array", "freq_hz", "sample_rate", "reference", "elements"):
        _check(key in doc, where, f"missing '{key}'")
    _check(isinstance(doc["created"], str), where, "'created' is not a time string")
    try:
        timeutil.parse_utc(doc["created"])
    except (ValueError, OverflowError):
        raise UserError(f"{where}: 'created' {doc['created'][:40]!r} is not an ISO UTC time") \
            from None
    _check(isinstance(doc["array"], str) and doc["array"], where, "'array' is not a name")
    for key in ("freq_hz", "sample_rate"):
        v = doc[key]
        _check(_real(v) and math.isfinite(v) and v > 0, where,
               f"'{key}' {v!r} is not a positive number")
    g = doc.get("gain_db")
    _check(g is None or (_real(g) and math.isfinite(g)), where, f"'gain_db' {g!r} is not a number")
    serials = doc.get("device_serials", [])
    _check(isinstance(serials, list) and all(isinstance(x, str) for x in serials), where,
           "'device_serials' is not a list of strings")
    for key in ("method",):
        _check(key not in doc or isinstance(doc[key], str), where, f"'{key}' is not a string")
    _check("quality" not in doc or isinstance(doc["quality"], dict), where,
           "'quality' is not an object")
    failed = False
    if doc["schema"] == SCHEMA:
        v = doc.get("verdict")
        _check(isinstance(v, dict), where, "missing 'verdict'")
        _check(v.get("status") in STATUSES, where,
               f"verdict status {v.get('status')!r} is not one of {', '.join(STATUSES)}")
        _check(isinstance(v.get("reasons", []), list)
               and all(isinstance(r, str) for r in v.get("reasons", [])), where,
               "verdict reasons are not a list of strings")
        _check(isinstance(v.get("checks", {}), dict), where, "verdict checks are not an object")
        _check(isinstance(doc.get("simulated"), bool), where, "'simulated' is not true/false")
        failed = v["status"] == "failed"
    els = doc["elements"]
    _check(isinstance(els, list) and els, where, "'elements' is not a non-empty list")
    chans, ids = set(), set()
    for i, e in enumerate(els):
        at = f"{where}: element {i}"
        _check(isinstance(e, dict), at, "not an object")
        eid = e.get("id")
        _check(isinstance(eid, str) and eid, at, "has no id")
        ch = e.get("channel")
        _check(isinstance(ch, int) and not isinstance(ch, bool), at,
               f"channel {ch!r} is not an integer")
        _check(0 <= ch < MAX_CHANNELS, at, f"channel {ch} is not in [0, {MAX_CHANNELS})")
        off = e.get("offset")
        _check(isinstance(off, dict) and _real(off.get("re")) and _real(off.get("im")), at,
               "has no offset re/im numbers")
        z = complex(off["re"], off["im"])
        # a failed calibration is kept for the record and may hold no usable offset
        _check(failed or (math.isfinite(z.real) and math.isfinite(z.imag) and z != 0), at,
               f"({eid}) has an unusable offset {z}")
        for key in ("amp_db", "phase_deg", "phase_std_deg", "amp_std_db"):
            _check(_real(e.get(key)), at, f"'{key}' {e.get(key)!r} is not a number")
        _check(isinstance(e.get("n"), int) and not isinstance(e["n"], bool) and e["n"] >= 0,
               at, f"'n' {e.get('n')!r} is not a count")
        _check(ch not in chans, where, f"channel {ch} appears twice")
        _check(eid not in ids, where, f"element id {eid!r} appears twice")
        chans.add(ch)
        ids.add(eid)
    _check(doc["reference"] in ids, where,
           f"reference {doc['reference']!r} is not one of the elements")
    return doc


def status(doc):
    """good | suspect | failed, or unverified for a document made before verdicts (/1)."""
    if doc.get("schema") == SCHEMA:
        return doc["verdict"]["status"]
    return UNVERIFIED


def is_simulated(doc):
    # /1 demo documents said so only in their serials
    return doc.get("simulated") is True or "SIMULATED" in (doc.get("device_serials") or [])


def refusals(doc, allow_suspect=False, allow_simulated=False, allow_unverified=False):
    """Why the Apply block must not use a document (empty: it may)."""
    why = []
    st = status(doc)
    if st == "failed":
        why.append("its verdict is failed")
    elif st == "suspect" and not allow_suspect:
        why.append("its verdict is suspect (allow_suspect to use it)")
    elif st == UNVERIFIED and not allow_unverified:
        why.append("it is unverified, made before verdicts (allow_unverified to use it)")
    if is_simulated(doc) and not allow_simulated:
        why.append("it is simulated (allow_simulated to use it)")
    return why


def load(path):
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise UserError(f"calibration '{path}' not found") from None
    except IsADirectoryError:
        raise UserError(f"calibration '{path}' is a directory") from None
    except OSError as e:
        raise UserError(f"calibration '{path}': cannot read ({e.strerror})") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"calibration '{path}': not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise UserError(f"calibration '{path}': not valid JSON (line {e.lineno})") from None
    except (ValueError, RecursionError) as e:   # 5000-digit numbers, absurd nesting
        raise UserError(f"calibration '{path}': unreadable JSON ({str(e)[:60]})") from None
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


@dataclass
class Entry:
    """One file of a store: its document, or why it is not usable."""
    path: str
    doc: dict = None
    error: str = None
    when: float = 0.0     # creation (UTC s), from the document or else the file name / mtime

    @property
    def valid(self):
        return self.doc is not None


class Store:
    def __init__(self, root=None):
        self.root = os.fspath(root or default_store())

    def add(self, doc):
        """Write a new document under a name no other writer has; never overwrites.
        Returns its path."""
        validate(doc)
        stamp = doc["created"].replace(":", "").replace("-", "").split(".")[0]
        base = f"{stamp}Z-{_slug(doc['array'])}-{doc['freq_hz'] / 1e6:.3f}MHz"
        try:
            os.makedirs(self.root, exist_ok=True)
            n = 1
            while True:
                path = os.path.join(self.root, (base if n == 1 else f"{base}-{n}") + ".json")
                try:
                    create_exclusive_json(path, doc)
                    return path
                except FileExistsError:
                    n += 1
        except OSError as e:
            raise UserError(f"cannot write to the calibration store {self.root}: "
                            f"{e.strerror or e}") from None

    def scan(self):
        """Every entry of the store, valid or not, [Entry] oldest first."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        except OSError as e:
            raise UserError(f"cannot read the calibration store {self.root}: "
                            f"{e.strerror}") from None
        out = []
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            p = os.path.join(self.root, name)
            try:
                doc = load(p)
                out.append(Entry(p, doc, None, timeutil.parse_utc(doc["created"])))
            except UserError as e:
                reason = str(e)
                for head in (f"{p}: ", f"calibration '{p}': "):
                    if reason.startswith(head):
                        reason = reason[len(head):]
                out.append(Entry(p, None, reason, _time_from_name(p)))
        out.sort(key=lambda e: (e.when, _sequence(e.path), e.path))
        return out

    def entries(self):
        """[(path, doc)] of the valid entries, oldest first (scan() also has the others)."""
        return [(e.path, e.doc) for e in self.scan() if e.valid]

    def find(self, ref):
        """A document by path, file name, or its index in `arraycal cal list` (1 = oldest)."""
        ref = os.fspath(ref)
        if os.path.isfile(ref):
            return ref, load(ref)
        entries = self.scan()
        hit = None
        if ref.isdigit() and 1 <= int(ref) <= len(entries):
            hit = entries[int(ref) - 1]
        else:
            hit = next((e for e in entries if os.path.basename(e.path) in (ref, ref + ".json")),
                       None)
        if hit is None:
            raise UserError(f"no calibration '{ref}' in {self.root}")
        if not hit.valid:
            raise UserError(f"{hit.path} is invalid: {hit.error}")
        return hit.path, hit.doc

    def newest_match(self, freq_hz, sample_rate, gain_db=None, serials=None, array=None,
                     allow_suspect=False, allow_simulated=False, allow_unverified=False):
        """The newest entry that fits the radio and may be applied.

        An invalid entry newer than it is an error, not skipped: it may be the
        calibration meant to be used, and an older one would be wrong silently.
        """
        entries = self.scan()
        if not entries:
            raise UserError(f"no calibration in {self.root}")
        considered = []
        for e in reversed(entries):
            if not e.valid:
                raise UserError(f"the newest calibration in the store, {e.path}, is invalid "
                                f"({e.error}): fix or remove it, or give a calibration file")
            if array and e.doc["array"] != array:
                continue
            why = mismatches(e.doc, freq_hz, sample_rate, gain_db, serials) + refusals(
                e.doc, allow_suspect, allow_simulated, allow_unverified)
            if not why:
                return e.path, e.doc
            considered.append((e.path, why))
        if not considered:
            raise UserError(f"no calibration for array {array} in {self.root}")
        p, why = considered[0]
        raise UserError(f"none of the {len(considered)} calibration(s) in {self.root} can be "
                        f"applied; the newest, {os.path.basename(p)}: {'; '.join(why)}")


def _time_from_name(path):
    """The creation time in a store file name (YYYYMMDDTHHMMSSZ-...), else its mtime."""
    import calendar
    stem = os.path.basename(path)
    try:
        t = time.strptime(stem[:16], "%Y%m%dT%H%M%SZ")
        return float(calendar.timegm(t))
    except ValueError:
        try:
            return os.path.getmtime(path)
        except OSError:
            return 0.0


def _sequence(path):
    """The -N suffix Store.add gives a second document of the same second (1 if none)."""
    stem = os.path.basename(path)[:-len(".json")]
    tail = stem.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1


def _slug(s):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(s))[:40] or "array"
