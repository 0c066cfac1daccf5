#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The ``arraycal`` command: ``arraycal VERB [options]``.

Exit codes: 0 success, 2 bad input (one line on stderr saying what and
where, no traceback; also a file the system refuses to read or write),
130 interrupted by Ctrl-C, 143 by SIGTERM (nothing of the cut-short run
stored, the previous outputs left as they were). Programming errors still
show their traceback: they are bugs to report.
"""


import sys

from ..errors import UserError
from ..signals import EXIT_SIGINT, EXIT_SIGTERM, Terminated, sigterm_raises
from .common import Parser, add_logging_options, setup_logging
from . import cal, demo, estimate, gnss, process, reciprocity, rx, tx

# ---------------------------------------------------------------- main
VERBS = [tx.add_waveform, tx.add_tx, rx.add_rx, estimate.add_estimate, gnss.add_gnss,
         process.add_process,
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
        with sigterm_raises():
            return args.func(args) or 0
    except UserError as e:
        sys.stderr.write(f"arraycal {name}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"arraycal {name}: interrupted\n")
        return EXIT_SIGINT
    except Terminated:
        sys.stderr.write(f"arraycal {name}: terminated\n")
        return EXIT_SIGTERM
    except BrokenPipeError:
        # output piped into head & co.: stop quietly, like other command-line tools
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        # the system refused a file (permissions, full disk, a directory where a file
        # should be): an input or environment problem, not a bug
        where = f" '{e.filename}'" if e.filename else ""
        sys.stderr.write(f"arraycal {name}: error:{where} {e.strerror or e}\n")
        return 2
    except UnicodeDecodeError as e:
        sys.stderr.write(f"arraycal {name}: error: a text input is not UTF-8 ({e.reason} at "
                         f"byte {e.start})\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())

