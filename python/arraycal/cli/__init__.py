#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The ``arraycal`` command: ``arraycal VERB [options]``.

Exit codes: 0 success, 2 bad input (one line on stderr saying what and
where, no traceback), 130 interrupted. Programming errors still show their
traceback: they are bugs to report.
"""


import sys

from ..errors import UserError
from .common import Parser, add_logging_options, setup_logging
from . import cal, demo, gnss, process, reciprocity, rx, tx

# ---------------------------------------------------------------- main
VERBS = [tx.add_waveform, tx.add_tx, rx.add_rx, gnss.add_gnss, process.add_process,
         process.add_report, cal.add_cal, demo.add_demo, reciprocity.add_reciprocity]


def build_parser():
    parser = Parser(prog="arraycal",
                     description="In-situ calibration of antenna arrays with software radios.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    add_logging_options(parser)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    sub.required = True
    for add in VERBS:
        add(sub)
    return parser


def _version():
    from ..version import __version__
    return __version__


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args)
    name = " ".join(v for v in (args.verb, getattr(args, "gnss_verb", None),
                                getattr(args, "cal_verb", None),
                                getattr(args, "rc_verb", None)) if v)
    try:
        return args.func(args) or 0
    except UserError as e:
        sys.stderr.write(f"arraycal {name}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"arraycal {name}: interrupted\n")
        return 130
    except BrokenPipeError:
        # output piped into head & co.: stop quietly, like other command-line tools
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

