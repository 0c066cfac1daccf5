#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Fixes from any GNSS file arraycal reads: a UBX log or an RTKLIB .pos file
(told apart by content, not by name), and why a file gave no fix."""

import os
import re

from . import rtklib, ubx
from ..errors import UserError

_NMEA = re.compile(rb"\$(?:GP|GN|GL|GA|GB|GQ|BD)[A-Z]{3},")
HEAD_BYTES = 1 << 16


def _head(path):
    try:
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as e:
        raise UserError(f"cannot read GNSS file '{path}': {e.strerror}") from None


def read_fixes(path, role=""):
    """(fixes, what was read: one line) from a UBX log or an RTKLIB .pos file."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise UserError(f"GNSS file '{p}' not found")
    head = _head(p)
    if rtklib.looks_like_pos(head) or (p.lower().endswith(".pos") and not
                                         head.startswith(ubx.SYNC)):
        fixes = rtklib.read_pos(p, role)
        return fixes, f"RTKLIB solution, {len(fixes)} epochs", None
    fixes, dec = ubx.read_ubx_file(p, role)
    return fixes, dec.stats.summary(), dec


def no_fix_reason(path, fixes, dec):
    """None when some fix has a position; else one line saying why and what to do."""
    if any(f.fix_type in (2, 3, 4) and f.gnss_fix_ok for f in fixes):
        return None
    if dec is None:  # RTKLIB
        if not fixes:
            return "an RTKLIB file without solution lines"
        return f"{len(fixes)} RTKLIB epochs, none with a solution (Q 1..6)"
    st, seen = dec.stats, dec.assembler.seen
    nav = [k for k in ("NAV-PVT", "NAV-SOL", "NAV-POSLLH", "NAV-STATUS") if seen.get(k)]
    if fixes:
        return (f"{len(fixes)} epochs, none with a position fix (fix type "
                f"{sorted({f.fix_type for f in fixes})}): the receiver had no sky view or "
                "too few satellites")
    if st.no_time:
        return (f"{st.no_time} epochs without a GPS week: enable NAV-TIMEGPS (or NAV-PVT, "
                "whose UTC date gives the week)")
    if st.frames == 0:
        head = _head(path)
        if _NMEA.search(head):
            return ("NMEA only, no UBX: enable UBX NAV-PVT output "
                    "(CFG-MSGOUT-UBX_NAV_PVT_USB or _UART1 = 1) and log again")
        if head.lstrip()[:1] in (b"%", b"#") or (head and all(32 <= c < 127 or c in b"\r\n\t"
                                                              for c in head[:4096])):
            return ("a text file, not a UBX log or an RTKLIB .pos file (RTKLIB files start "
                    "with '%' header lines)")
        return "no UBX frame in it: not a u-blox log (UBX starts with B5 62)"
    if nav == ["NAV-POSLLH"]:
        return ("NAV-POSLLH only, which carries no fix type: enable NAV-PVT, or NAV-STATUS "
                "or NAV-SOL beside NAV-POSLLH")
    if not nav:
        kinds = ", ".join(sorted(seen)[:6]) or "none decodable"
        raw = " (raw observations: post-process them with RTKLIB and convert its .pos)" \
            if seen.get("RXM-RAWX") else ""
        return (f"{st.frames} UBX frames ({kinds}) but no navigation solution: enable NAV-PVT "
                f"(CFG-MSGOUT-UBX_NAV_PVT_USB = 1){raw}")
    return "no navigation epoch with a fix type"
