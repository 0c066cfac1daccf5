#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Apply a u-center configuration file to a u-blox receiver.

Three file formats are read, recognised by their content:

gen9 (u-center "Save configuration" for a u-blox 9/10 receiver):
    MON-VER - 0A 04 DC 00 <the receiver's version strings>
    CFG-VALGET - 06 8B 44 01 01 00 00 00 <key><value>...
  class, id, length, payload of UBX-CFG-VALGET responses (any layer) without
  sync and checksum. The key-value pairs are copied byte for byte into
  UBX-CFG-VALSET messages (at most 64 pairs each) for the chosen layers, so
  keys that pyubx2 does not know are applied all the same.
m8 (the same dialog for a u-blox 8 receiver, legacy messages):
    CFG-PRT - 06 00 14 00 01 00 ...
  every CFG line is sent as that UBX message and acknowledged (ACK-ACK for
  its class and id); MON lines are the receiver's description, not sent.
changes-1.0 (u-center's "Config changes format version 1.0"):
    # Config changes format version 1.0
    [del]
    Flash CFG-UART1-BAUDRATE
    [set]
      RAM CFG-RATE-MEAS 0xc8   # write value ... to item id 0x30210001 in layer 0
  each line names its own layer (RAM, BBR, Flash); [del] lines become
  CFG-VALDEL (BBR and Flash only), [set] lines CFG-VALSET per layer.
ucf (u-center 2's .ucf, JSON):
    {"type": "CFG-ITEM", "items": [{"key": "0x30210001", "value": 200, "layer": 0,
                                    "action": "Set", "valueType": "U2"}, ...]}
  layer 0 RAM, 1 BBR, 2 Flash; applied like changes-1.0 (action Set or Delete).
"""

import re
import struct
import time
from dataclasses import dataclass, field

from pyubx2.ubxtypes_configdb import UBX_CONFIG_DATABASE

from . import ubx as gnss
from ..errors import UserError

KEY_NAMES = {}  # the first of pyubx2's names for an ID (a few IDs have two), as pyubx2 decodes
KEY_TYPES = {}
for _name, (_kid, _typ) in UBX_CONFIG_DATABASE.items():
    KEY_NAMES.setdefault(_kid, _name)
    KEY_TYPES.setdefault(_kid, _typ)
KEY_IDS = {name: kid for name, (kid, _) in UBX_CONFIG_DATABASE.items()}
# value sizes by the key ID's size bits (28..30): 1 bit, 1, 2, 4, 8 bytes
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8}
LAYERS = {"ram": 0x01, "bbr": 0x02, "flash": 0x04}
MAX_KEYS = 64  # per CFG-VALSET / CFG-VALDEL message


def key_name(kid):
    """pyubx2's name (CFG_RATE_MEAS), or CFG_0x... for keys it does not know."""
    return KEY_NAMES.get(kid, f"CFG_0x{kid:08x}")


def display_name(kid):
    """u-blox's spelling (CFG-RATE-MEAS, CFG-MSGOUT-UBX_NAV_PVT_USB)."""
    name = KEY_NAMES.get(kid)
    if name is None:
        return f"CFG-0x{kid:08x}"
    return name.replace("_", "-", 2)


def value_size(kid):
    return _SIZES.get((kid >> 28) & 0x7)


def key_type(kid):
    """'U', 'I', 'E', 'X', 'L' or 'R' and the size in bytes.

    From pyubx2's database ('U002' style) when it knows the key, else from
    the key's size bits (1 bit: L; otherwise shown as X, raw hex)."""
    t = KEY_TYPES.get(kid)
    size = value_size(kid)
    if t:
        return t[0], size
    return ("L" if (kid >> 28) & 0x7 == 1 else "X"), size


def decoded_value(kid, val):
    """The typed value: float for R types, signed int for I, int otherwise."""
    kind, _ = key_type(kid)
    if kind == "R":
        return struct.unpack("<f" if len(val) == 4 else "<d", val)[0]
    return int.from_bytes(val, "little", signed=kind == "I")


def format_value(kid, val):
    """The value as --dry-run prints it: floats as floats, X types in hex."""
    kind, size = key_type(kid)
    v = decoded_value(kid, val)
    if kind == "X":
        return f"0x{v:0{2 * size}x}"
    return repr(v) if kind == "R" else str(v)


def encode_value(kid, text, where):
    """Bytes of a value written in a format-1.0 file (decimal, 0x hex, or float)."""
    kind, size = key_type(kid)
    if size is None:
        raise UserError(f"{where}: key 0x{kid:08x} has an invalid size code")
    t = text.strip()
    try:
        if kind == "R":
            return struct.pack("<f" if size == 4 else "<d", float(t))
        v = int(t, 0)
    except (ValueError, OverflowError):
        raise UserError(f"{where}: value '{t[:40]}' is not a number for {display_name(kid)}") \
            from None
    signed = kind == "I"
    try:
        return v.to_bytes(size, "little", signed=signed)
    except OverflowError:
        raise UserError(f"{where}: value {t} does not fit {display_name(kid)} "
                        f"({'I' if signed else 'U'}{size})") from None


def parse_valget_payload(payload, where):
    if len(payload) < 4:
        raise UserError(f"{where}: CFG-VALGET payload shorter than its header")
    pairs = []
    i = 4  # version, layer, position
    while i < len(payload):
        if i + 4 > len(payload):
            raise UserError(f"{where}: key ID cut off at byte {i}")
        kid = int.from_bytes(payload[i:i + 4], "little")
        size = value_size(kid)
        if size is None:
            raise UserError(f"{where}: key 0x{kid:08x} has an invalid size code")
        if i + 4 + size > len(payload):
            raise UserError(f"{where}: value of {display_name(kid)} cut off")
        pairs.append((kid, bytes(payload[i + 4:i + 4 + size])))
        i += 4 + size
    return pairs


@dataclass
class UcenterConfig:
    """What a u-center file asks for, in the file's order."""
    path: str
    format: str                                     # gen9 | m8 | changes-1.0 | ucf
    values: dict = field(default_factory=dict)      # gen9: key ID -> value bytes
    sets: list = field(default_factory=list)        # changes-1.0, ucf: (layer, key ID, bytes)
    deletes: list = field(default_factory=list)     # changes-1.0, ucf: (layer, key ID)
    messages: list = field(default_factory=list)    # m8: (name, class, id, payload)
    receiver: str = ""                              # from MON-VER, when the file has it

    def frames(self, layers=("ram", "bbr")):
        """The UBX frames to send: VALSET (gen9), VALDEL + VALSET (1.0) or the messages (m8)."""
        if self.format == "gen9":
            return valset_frames(self.values, layers)
        if self.format == "m8":
            return [gnss.ubx_frame(c, i, p) for _, c, i, p in self.messages]
        # changes-1.0 and ucf: deletes, then sets, each in the layer the file names
        out = []
        for layer in ("bbr", "flash"):
            keys = [k for lay, k in self.deletes if lay == layer]
            for j in range(0, len(keys), MAX_KEYS):
                payload = bytes((0x00, LAYERS[layer], 0x00, 0x00))
                payload += b"".join(k.to_bytes(4, "little") for k in keys[j:j + MAX_KEYS])
                out.append(gnss.ubx_frame(0x06, 0x8C, payload))
        for layer in ("ram", "bbr", "flash"):
            vals = {}
            for lay, k, v in self.sets:
                if lay == layer:
                    vals[k] = v
            if vals:
                out += valset_frames(vals, [layer])
        return out

    def items(self):
        """(layer, key ID, value bytes or None for a delete) for printing."""
        if self.format == "gen9":
            return [("", k, v) for k, v in self.values.items()]
        return [(lay, k, None) for lay, k in self.deletes] + list(self.sets)


_LINE = re.compile(r"^\s*([A-Z0-9]+-[A-Z0-9_]+)\s+-\s+([0-9A-Fa-f]{2}(?:\s+[0-9A-Fa-f]{2})*)\s*$")


def _mon_ver(payload):
    """swVersion (30 chars), hwVersion (10), then 30-char extensions."""
    def text(b):
        return b.split(b"\0")[0].decode("ascii", "replace").strip()
    parts = [text(payload[0:30]), text(payload[30:40])]
    parts += [text(payload[i:i + 30]) for i in range(40, len(payload), 30)]
    return "; ".join(s for s in parts if s)


def read_config(path):
    """Read a u-center configuration file of any of the three formats."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise UserError(f"configuration file '{path}' not found") from None
    except OSError as e:
        raise UserError(f"cannot read configuration file '{path}': {e.strerror}") from None
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (some editors add one)
        raw = raw[3:]
    text = raw.decode("ascii", errors="replace")
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if re.match(r"#\s*config changes format", first, re.IGNORECASE):
        return _read_changes(path, lines)
    if first.startswith("{"):
        return _read_ucf(path, text)
    return _read_messages(path, lines)


def _read_messages(path, lines):
    cfg = UcenterConfig(path, "gen9")
    gen9 = m8 = 0
    for lineno, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith(("#", "//")):
            continue
        where = f"{path}:{lineno}"
        m = _LINE.match(s)
        if not m:
            if lineno == 1 or (gen9 + m8) == 0:
                raise UserError(f"{where}: not a u-center configuration file (expected lines "
                                "'NAME - CL ID LL LL ...', e.g. 'CFG-VALGET - 06 8B ...', or "
                                "'# Config changes format version 1.0')")
            raise UserError(f"{where}: not a 'NAME - hex bytes' line of a u-center file")
        name, b = m.group(1), bytes.fromhex(m.group(2))
        if len(b) < 4:
            raise UserError(f"{where}: {name} shorter than class, id and length")
        length = int.from_bytes(b[2:4], "little")
        if len(b) - 4 != length:
            raise UserError(f"{where}: length field says {length} bytes, line has {len(b) - 4}")
        cls, mid, payload = b[0], b[1], b[4:]
        if cls == 0x0A:  # MON: what receiver wrote the file
            if mid == 0x04 and not cfg.receiver:
                cfg.receiver = _mon_ver(payload)
            continue
        if cls != 0x06:
            raise UserError(f"{where}: {name} (class 0x{cls:02X}) is not a configuration "
                            "message")
        if mid == 0x8B:
            if name != "CFG-VALGET":
                raise UserError(f"{where}: {name} has the id of CFG-VALGET (06 8B)")
            for kid, val in parse_valget_payload(payload, where):
                cfg.values[kid] = val
            gen9 += 1
        elif mid in (0x8A, 0x8C):
            raise UserError(f"{where}: {name} (06 {mid:02X}) in a saved configuration; "
                            "u-center saves CFG-VALGET lines")
        else:
            cfg.messages.append((name, cls, mid, bytes(payload)))
            m8 += 1
    if gen9 and m8:
        raise UserError(f"'{path}' mixes CFG-VALGET lines (u-blox 9) with legacy u-blox 8 "
                        f"messages ({cfg.messages[0][0]}): save one receiver's configuration")
    if m8:
        cfg.format = "m8"
    elif not cfg.values:
        raise UserError(f"'{path}' holds no configuration line (CFG-VALGET or legacy CFG-...)")
    return cfg


_LAYER_NAMES = {"ram": "ram", "bbr": "bbr", "flash": "flash"}


def _key_from(name, comment, where):
    kid = KEY_IDS.get(name.replace("-", "_"))
    if kid is None:
        m = re.search(r"item id (?:0x)?([0-9a-fA-F]{8})", comment)
        if m:
            return int(m.group(1), 16)
        m = re.fullmatch(r"CFG-0x([0-9a-fA-F]{8})", name)
        if m:
            return int(m.group(1), 16)
        raise UserError(f"{where}: unknown configuration key {name} (and no 'item id' "
                        "comment to read its ID from)")
    return kid


def _read_changes(path, lines):
    cfg = UcenterConfig(path, "changes-1.0")
    section = None
    for lineno, line in enumerate(lines, 1):
        where = f"{path}:{lineno}"
        body, _, comment = line.partition("#")
        s = body.strip()
        if not s:  # blank, the format line and other comments
            continue
        if s.lower() in ("[set]", "[del]"):
            section = s.lower()[1:-1]
            continue
        if section is None:
            raise UserError(f"{where}: a config-changes line before [set] or [del]")
        parts = s.split()
        layer = _LAYER_NAMES.get(parts[0].lower())
        if layer is None:
            raise UserError(f"{where}: layer '{parts[0]}' is not RAM, BBR or Flash")
        if section == "del":
            if len(parts) != 2:
                raise UserError(f"{where}: a [del] line is 'LAYER KEY'")
            if layer == "ram":
                raise UserError(f"{where}: RAM values cannot be deleted (CFG-VALDEL takes "
                                "BBR and Flash)")
            cfg.deletes.append((layer, _key_from(parts[1], comment, where)))
        else:
            if len(parts) != 3:
                raise UserError(f"{where}: a [set] line is 'LAYER KEY VALUE'")
            kid = _key_from(parts[1], comment, where)
            cfg.sets.append((layer, kid, encode_value(kid, parts[2], where)))
    if not cfg.sets and not cfg.deletes:
        raise UserError(f"'{path}': config changes file with no [set] or [del] line")
    return cfg


_UCF_LAYERS = {0: "ram", 1: "bbr", 2: "flash"}


def _read_ucf(path, text):
    import json
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise UserError(f"'{path}': JSON but not valid ({e}); u-center 2 .ucf files are "
                        "JSON with \"type\": \"CFG-ITEM\"") from None
    if not isinstance(doc, dict) or doc.get("type") != "CFG-ITEM" or \
            not isinstance(doc.get("items"), list):
        raise UserError(f"'{path}': JSON without \"type\": \"CFG-ITEM\" and \"items\"; not a "
                        "u-center 2 configuration (.ucf)")
    cfg = UcenterConfig(path, "ucf")
    for i, item in enumerate(doc["items"]):
        where = f"{path}: item {i}"
        if not isinstance(item, dict):
            raise UserError(f"{where} is not an object")
        try:
            kid = int(str(item.get("key")), 16)
        except ValueError:
            raise UserError(f"{where}: key {item.get('key')!r} is not a hex key ID") from None
        if not 0 <= kid <= 0xFFFFFFFF:
            raise UserError(f"{where}: key {item.get('key')!r} is not a 32-bit key ID")
        lay = item.get("layer")
        layer = _UCF_LAYERS.get(lay) if isinstance(lay, int) and not isinstance(lay, bool) \
            else None
        if layer is None:
            raise UserError(f"{where}: layer {item.get('layer')!r} is not 0 (RAM), 1 (BBR) or "
                            "2 (Flash)")
        action = str(item.get("action", "Set")).lower()
        if action == "delete":
            if layer == "ram":
                raise UserError(f"{where}: RAM values cannot be deleted")
            cfg.deletes.append((layer, kid))
        elif action == "set":
            v = item.get("value")
            if isinstance(v, bool):
                v = int(v)
            if isinstance(v, str) or not isinstance(v, (int, float)):
                raise UserError(f"{where}: value {v!r} is not a number")
            cfg.sets.append((layer, kid, encode_value(kid, repr(v), where)))
        else:
            raise UserError(f"{where}: action {item.get('action')!r} is not Set or Delete")
    if not cfg.sets and not cfg.deletes:
        raise UserError(f"'{path}': a .ucf file without items")
    return cfg


def read_ucenter(path):
    """Ordered {key ID: value bytes} of a u-blox 9 file (later lines win)."""
    cfg = read_config(path)
    if cfg.format != "gen9":
        raise UserError(f"'{path}' is a {cfg.format} file, not CFG-VALGET lines")
    return cfg.values


def layer_mask(layers):
    mask = 0
    for layer in layers:
        if layer not in LAYERS:
            raise UserError(f"unknown layer '{layer}': use ram, bbr, flash")
        mask |= LAYERS[layer]
    if not mask:
        raise UserError("no layer given: use ram, bbr, flash")
    return mask


def valset_frames(values, layers=("ram", "bbr"), per_message=MAX_KEYS):
    """UBX-CFG-VALSET frames (06 8A) carrying every key-value pair."""
    mask = layer_mask(layers)
    items = list(values.items())
    frames = []
    for i in range(0, len(items), per_message):
        payload = bytes((0x00, mask, 0x00, 0x00))
        for kid, val in items[i:i + per_message]:
            payload += kid.to_bytes(4, "little") + val
        frames.append(gnss.ubx_frame(0x06, 0x8A, payload))
    return frames


def apply(dev, frames, timeout=2.0):
    """Send frames and wait for each one's ACK; returns [(frame, 'ack'|'nak'|'timeout')]."""
    results = []
    framer = gnss.UbxFramer()
    for frame in frames:
        dev.write(frame)
        cls, mid = frame[2], frame[3]
        deadline = time.monotonic() + timeout
        verdict = "timeout"
        while time.monotonic() < deadline and verdict == "timeout":
            for _, raw in framer.feed(dev.read(256)):
                if raw[2] == 0x05 and len(raw) >= 10 and raw[6] == cls and raw[7] == mid:  # ACK/NAK for it
                    verdict = "ack" if raw[3] == 0x01 else "nak"
        results.append((frame, verdict))
    return results
