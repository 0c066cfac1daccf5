#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""`arraycal cal list | show | export`: the calibration store."""

import os

from ..errors import UserError
from .common import Parser, print_offsets


# ---------------------------------------------------------------- cal
def add_cal(sub):
    p = sub.add_parser("cal", help="the calibration store: list, show, export",
                       description="Stored calibrations (history kept, never overwritten).")
    csub = p.add_subparsers(dest="cal_verb", metavar="ACTION", parser_class=Parser)
    csub.required = True
    for name, helptext in (("list", "list the stored calibrations"),
                           ("show", "show one calibration"),
                           ("export", "export one calibration")):
        c = csub.add_parser(name, help=helptext)
        c.add_argument("--store", help="store directory (default: the user store)")
        if name != "list":
            c.add_argument("ref", help="number from 'cal list' (1 = oldest), file name or path")
        if name == "export":
            c.add_argument("--format", choices=("json", "csv", "weights"), default="json",
                           help="weights: channel,re,im of the correction 1/offset")
            c.add_argument("--out", required=True)
        c.set_defaults(func=_cmd_cal)


def _cmd_cal(args):
    from ..calibration import store as calstore
    from ..fileio import atomic_write_json, atomic_write_text
    store = calstore.Store(args.store)
    if args.cal_verb == "list":
        entries = store.scan()
        if not entries:
            print(f"no calibration in {store.root}")
            return 0
        print(f"{'#':>3s} {'created':24s} {'array':16s} {'MHz':>10s} {'MS/s':>6s} "
              f"{'gain':>5s} {'method':6s} {'elements':>8s} {'status':10s}  file")
        for i, e in enumerate(entries, 1):
            name = os.path.basename(e.path)
            if not e.valid:
                print(f"{i:3d} {'INVALID':24s} {e.error}  {name}")
                continue
            d = e.doc
            g = "" if d.get("gain_db") is None else f"{d['gain_db']:g}"
            st = calstore.status(d) + (" sim" if calstore.is_simulated(d) else "")
            print(f"{i:3d} {d['created'][:24]:24s} {d['array'][:16]:16s} "
                  f"{d['freq_hz'] / 1e6:10.3f} {d['sample_rate'] / 1e6:6g} {g:>5s} "
                  f"{str(d.get('method', ''))[:6]:6s} {len(d['elements']):8d} {st:10s}  {name}")
        bad = sum(not e.valid for e in entries)
        if bad:
            print(f"{bad} of {len(entries)} entries are invalid (never applied)")
        return 0
    if args.ref.isdigit() and not os.path.exists(args.ref):
        n = len(store.entries())
        if not 1 <= int(args.ref) <= n:
            raise UserError(f"no calibration '{args.ref}' in {store.root}: `arraycal cal list` "
                            + (f"numbers them 1 (oldest) to {n} (newest)" if n else
                               "shows none"))
    path, doc = store.find(args.ref)
    if args.cal_verb == "show":
        v = doc.get("verdict") or {}
        print(f"{path}\n{doc['array']} at {doc['freq_hz'] / 1e6:.3f} MHz, "
              f"{doc['sample_rate'] / 1e6:g} MS/s, gain {doc.get('gain_db')}, serials "
              f"{doc.get('device_serials') or '-'}; created {doc['created']}; method "
              f"{doc.get('method')}; reference {doc['reference']}")
        print(f"verdict: {calstore.status(doc)}"
              + (" (simulated)" if calstore.is_simulated(doc) else "")
              + "".join(f"\n  - {r}" for r in v.get("reasons", [])))
        print_offsets(doc)
        return 0
    try:
        if args.format == "json":
            atomic_write_json(args.out, doc)
        elif args.format == "csv":
            rows = ["id,channel,reference,re,im,amp_db,phase_deg,phase_std_deg,amp_std_db,n"]
            for e in doc["elements"]:
                rows.append(f"{e['id']},{e['channel']},{int(e['id'] == doc['reference'])},"
                            f"{e['offset']['re']:.9g},{e['offset']['im']:.9g},"
                            f"{e.get('amp_db', float('nan')):.6f},"
                            f"{e.get('phase_deg', float('nan')):.6f},"
                            f"{e.get('phase_std_deg', float('nan')):.6f},"
                            f"{e.get('amp_std_db', float('nan')):.6f},{e.get('n', 0)}")
            atomic_write_text(args.out, "\n".join(rows) + "\n")
        else:
            n = max(int(e["channel"]) for e in doc["elements"]) + 1
            w = calstore.weights(doc, n)
            atomic_write_text(args.out, "channel,re,im\n" + "".join(
                f"{c},{w[c].real:.9g},{w[c].imag:.9g}\n" for c in range(n)))
    except OSError as e:
        raise UserError(f"cannot write '{args.out}': {e.strerror}") from None
    print(f"exported {path} as {args.format} to {args.out} (reference {doc['reference']}, "
          f"verdict {calstore.status(doc)})")
    return 0
