#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Instantiate (and optionally run) one grcc-generated flowgraph; used by test_grc.py.

    python3 grc_instantiate.py GENERATED.py GRC_DIR MODE OVERRIDES_JSON [--no-usrp]

The top block is built with its default parameters, except that an input
file named relative to the .grc (e.g. arrays/outdoor_2el.yaml) is given as
an absolute path, every tcp://127.0.0.1:PORT gets a free port (the same
port for the same default, so the flowgraph's own pairings hold), and
OVERRIDES_JSON replaces parameters. The working directory takes the outputs.

MODE: construct (build the top block only), start_stop (start and stop at
once: every block's start() and stop() run, no samples need to flow) or run
(until the flowgraph finishes by itself; the caller bounds the time).

--no-usrp: gr-uhd's usrp_source/usrp_sink are replaced by stand-ins with the
same channels (null source / null sink), so that the rest of a radio
flowgraph is built and started on a machine without a USRP.

Prints one JSON line: {"result": "constructed" | "started-stopped" | "ran",
"class", "kwargs", "offsets" (the last estimate of every offset_estimator, also
inside a receiver, element id -> [re, im]), "truth" (every channel_emulator's element offsets)}; or
{"result": "construct-error", "error": MESSAGE} with exit code 3 when the
constructor raises a RuntimeError (e.g. UHD's "No devices found"). Runs in
its own interpreter: a generated module, its Qt application and its sockets
stay out of pytest's.
"""

import importlib.util
import inspect
import json
import os
import re
import socket
import sys


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_kwargs(cls, grc_dir):
    kwargs, ports = {}, {}
    for name, p in inspect.signature(cls.__init__).parameters.items():
        v = p.default
        if not isinstance(v, str) or not v:
            continue
        m = re.fullmatch(r"tcp://127\.0\.0\.1:(\d+)", v)
        if m:
            ports.setdefault(m.group(1), _free_port())
            kwargs[name] = f"tcp://127.0.0.1:{ports[m.group(1)]}"
        elif not os.path.isabs(v) and os.path.isfile(os.path.join(grc_dir, v)):
            kwargs[name] = os.path.join(grc_dir, v)
    return kwargs


def replace_usrps():
    """Stand-ins for gr-uhd's USRP blocks: the same ports, no radio."""
    from gnuradio import blocks, gr, uhd

    class _Radio(gr.hier_block2):
        def __getattr__(self, name):
            if name.startswith(("set_", "get_")):
                return lambda *a, **k: None
            return super().__getattr__(name)

    class usrp_source(_Radio):
        def __init__(self, device_addr, stream_args, *rest, **kw):
            n = len(list(stream_args.channels)) or 1
            gr.hier_block2.__init__(self, "usrp_source_stand_in", gr.io_signature(0, 0, 0),
                                    gr.io_signature(n, n, gr.sizeof_gr_complex))
            self.nulls = [blocks.null_source(gr.sizeof_gr_complex) for _ in range(n)]
            for c, b in enumerate(self.nulls):
                self.connect(b, (self, c))

    class usrp_sink(_Radio):
        def __init__(self, device_addr, stream_args, *rest, **kw):
            n = len(list(stream_args.channels)) or 1
            gr.hier_block2.__init__(self, "usrp_sink_stand_in",
                                    gr.io_signature(n, n, gr.sizeof_gr_complex),
                                    gr.io_signature(0, 0, 0))
            self.nulls = [blocks.null_sink(gr.sizeof_gr_complex) for _ in range(n)]
            for c, b in enumerate(self.nulls):
                self.connect((self, c), b)

    uhd.usrp_source, uhd.usrp_sink = usrp_source, usrp_sink


def observations(tb):
    from gnuradio import arraycal
    out = {"offsets": {}, "truth": {}}
    for name, obj in vars(tb).items():
        if isinstance(obj, arraycal.receiver):
            obj = obj.live                 # its live offset estimator, if it has one
        if isinstance(obj, arraycal.offset_estimator) and obj.last is not None:
            out["offsets"][name] = {e.id: [e.offset.real, e.offset.imag]
                                    for e in obj.last.elements}
        elif isinstance(obj, arraycal.channel_emulator):
            out["truth"][name] = {k: [complex(v).real, complex(v).imag]
                                  for k, v in obj.truth().items()}
    return out


def main(path, grc_dir, mode, overrides, no_usrp=False):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if no_usrp:
        replace_usrps()
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))  # its embedded blocks
    spec = importlib.util.spec_from_file_location("flowgraph", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cls = inspect.signature(mod.main).parameters["top_block_cls"].default
    app = None
    if hasattr(mod, "Qt"):
        # a qt_gui flowgraph is also a QWidget: it needs an application
        app = mod.Qt.QApplication.instance() or mod.Qt.QApplication([])
    kwargs = dict(default_kwargs(cls, grc_dir), **overrides)
    report = {"class": cls.__name__, "kwargs": kwargs}
    try:
        tb = cls(**kwargs)
    except RuntimeError as e:
        report.update(result="construct-error", error=" ".join(str(e).split()))
        print(json.dumps(report), flush=True)
        return 3
    if mode == "construct":
        report["result"] = "constructed"
    elif mode == "start_stop":
        tb.start()
        tb.stop()
        tb.wait()
        report["result"] = "started-stopped"
    elif mode == "run":
        tb.start()
        tb.wait()
        tb.stop()
        report["result"] = "ran"
    else:
        raise SystemExit(f"unknown mode {mode}")
    report.update(observations(tb))
    print(json.dumps(report), flush=True)
    del tb, app
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--no-usrp"]
    sys.exit(main(args[0], args[1], args[2], json.loads(args[3]), "--no-usrp" in sys.argv))
