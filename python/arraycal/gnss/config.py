#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Apply a u-center configuration file (CFG-VALGET dumps) to a u-blox receiver.

u-center's "Save configuration" writes lines such as
    CFG-VALGET - 06 8B 44 01 01 00 00 00 <key><value>...
(class, id, length, payload of a UBX-CFG-VALGET response without sync and
checksum). Each key-value pair is copied byte for byte into UBX-CFG-VALSET
messages (at most 64 pairs each) for the chosen layers, so keys that pyubx2
does not know are applied all the same.
"""

import time

from pyubx2.ubxtypes_configdb import UBX_CONFIG_DATABASE

from . import ubx as gnss
from ..errors import UserError

KEY_NAMES = {kid: name for name, (kid, _) in UBX_CONFIG_DATABASE.items()}
# value sizes by the key ID's size bits (28..30): 1 bit, 1, 2, 4, 8 bytes
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8}
LAYERS = {"ram": 0x01, "bbr": 0x02, "flash": 0x04}


def key_name(kid):
    return KEY_NAMES.get(kid, f"CFG_0x{kid:08x}")


def parse_valget_payload(payload, where):
    if len(payload) < 4:
        raise UserError(f"{where}: CFG-VALGET payload shorter than its header")
    pairs = []
    i = 4  # version, layer, position
    while i < len(payload):
        if i + 4 > len(payload):
            raise UserError(f"{where}: key ID cut off at byte {i}")
        kid = int.from_bytes(payload[i:i + 4], "little")
        size = _SIZES.get((kid >> 28) & 0x7)
        if size is None:
            raise UserError(f"{where}: key 0x{kid:08x} has an invalid size code")
        if i + 4 + size > len(payload):
            raise UserError(f"{where}: value of {key_name(kid)} cut off")
        pairs.append((kid, bytes(payload[i + 4:i + 4 + size])))
        i += 4 + size
    return pairs


def read_ucenter(path):
    """Ordered {key ID: value bytes} from a u-center configuration file (later lines win)."""
    try:
        text = open(path, encoding="ascii", errors="replace").read()
    except FileNotFoundError:
        raise UserError(f"configuration file '{path}' not found") from None
    values = {}
    n = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "//")):
            continue
        name, sep, hexs = line.partition(" - ")
        where = f"{path}:{lineno}"
        if not sep or not name.strip().startswith("CFG-VALGET"):
            raise UserError(f"{where}: not a u-center CFG-VALGET line")
        try:
            b = bytes.fromhex(hexs)
        except ValueError:
            raise UserError(f"{where}: bad hex digits") from None
        if len(b) < 4 or b[0] != 0x06 or b[1] != 0x8B:
            raise UserError(f"{where}: not a UBX-CFG-VALGET message (06 8B)")
        length = int.from_bytes(b[2:4], "little")
        if len(b) - 4 != length:
            raise UserError(f"{where}: length field says {length} bytes, line has {len(b) - 4}")
        for kid, val in parse_valget_payload(b[4:], where):
            values[kid] = val
        n += 1
    if not values:
        raise UserError(f"'{path}' holds no CFG-VALGET line")
    return values


def decoded_value(kid, val):
    """A readable value for printing: integer for sized keys."""
    return int.from_bytes(val, "little")


def valset_frames(values, layers=("ram", "bbr"), per_message=64):
    """UBX-CFG-VALSET frames (06 8A) carrying every key-value pair."""
    mask = 0
    for layer in layers:
        if layer not in LAYERS:
            raise UserError(f"unknown layer '{layer}': use ram, bbr, flash")
        mask |= LAYERS[layer]
    items = list(values.items())
    frames = []
    for i in range(0, len(items), per_message):
        payload = bytes((0x00, mask, 0x00, 0x00))
        for kid, val in items[i:i + per_message]:
            payload += kid.to_bytes(4, "little") + val
        frames.append(gnss.ubx_frame(0x06, 0x8A, payload))
    return frames


def apply(dev, frames, timeout=2.0):
    """Send VALSET frames and wait for each ACK-ACK; returns [(frame, 'ack'|'nak'|'timeout')]."""
    results = []
    framer = gnss.UbxFramer()
    for frame in frames:
        dev.write(frame)
        deadline = time.monotonic() + timeout
        verdict = "timeout"
        while time.monotonic() < deadline and verdict == "timeout":
            for _, raw in framer.feed(dev.read(256)):
                if raw[2] == 0x05 and raw[6] == 0x06 and raw[7] == 0x8A:  # ACK/NAK for CFG-VALSET
                    verdict = "ack" if raw[3] == 0x01 else "nak"
        results.append((frame, verdict))
    return results
