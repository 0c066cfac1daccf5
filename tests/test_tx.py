#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The headless transmitter: file and ZMQ sinks, clean shutdown, bad input, no Qt."""

import os
import signal
import subprocess

import numpy as np
import pytest

from gnuradio import arraycal, blocks, gr, zeromq

from conftest import ARRAYCAL, PY, assert_one_line_error, free_tcp_port, run_cli


def whole_packets(samples, packet):
    """Assert samples are whole packets back to back, in order; return their number."""
    K = len(packet)
    assert samples.size % K == 0, samples.size
    frames = samples.reshape(-1, K)
    np.testing.assert_allclose(frames, np.broadcast_to(packet, frames.shape), atol=1e-6)
    return frames.shape[0]


@pytest.mark.timeout(60)
def test_tx_file_sink_holds_whole_packets_in_order(tmp_path):
    out = tmp_path / "tx.c64"
    p = run_cli("tx", "--sink", f"file:{out}", "--duration", "2.5", "--rate", "1e6",
                "--amplitude", "0.5")
    assert p.returncode == 0, p.stderr
    x = np.fromfile(out, dtype=np.complex64)
    n = whole_packets(x, 0.5 * arraycal.packet())
    assert n == int(np.ceil(2.5 * 1e6 / 1278))  # 2.5 s of packets, rounded up


@pytest.mark.timeout(60)
def test_tx_custom_waveform_file(tmp_path):
    wfile = tmp_path / "wf.bin"
    assert run_cli("waveform", "--out", wfile, "--payload", 100).returncode == 0
    out = tmp_path / "tx.c64"
    p = run_cli("tx", "--sink", f"file:{out}", "--waveform", wfile, "--duration", "0.001",
                "--amplitude", "1")
    assert p.returncode == 0, p.stderr
    pkt = arraycal.radio.waveform.read(wfile)
    assert pkt.size == 378
    assert whole_packets(np.fromfile(out, dtype=np.complex64), pkt) == 11  # ceil(1000/378)


@pytest.mark.timeout(90)
def test_tx_zmq_sink_received_by_zmq_source():
    addr = f"tcp://127.0.0.1:{free_tcp_port()}"
    tx = subprocess.Popen([ARRAYCAL, "tx", "--sink", f"zmq:{addr}", "--duration", "0.05",
                           "--amplitude", "0.7"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        K = 1278
        n = 100 * K  # ceil(0.05 s * 4 MS/s / K) = 157 packets are sent; take 100
        tb = gr.top_block()
        src = zeromq.pull_source(gr.sizeof_gr_complex, 1, addr, 100, False, -1)
        head = blocks.head(gr.sizeof_gr_complex, n)
        snk = blocks.vector_sink_c()
        tb.connect(src, head, snk)
        # a ZMQ source never ends by itself: the head block bounds the run
        tb.run()
        tb.stop()
        tb.wait()
        got = np.array(snk.data(), dtype=np.complex64)
        assert whole_packets(got, 0.7 * arraycal.packet()) == 100
    finally:
        try:
            out, err = tx.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            tx.kill()
            out, err = tx.communicate()
    assert tx.returncode == 0, err


@pytest.mark.timeout(60)
def test_tx_stops_cleanly_on_sigterm(tmp_path):
    out = tmp_path / "tx.c64"
    tx = subprocess.Popen([ARRAYCAL, "tx", "--sink", f"file:{out}", "--realtime",
                           "--rate", "1e5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    first = tx.stdout.readline()  # the start line: the flowgraph is up
    assert "arraycal tx:" in first
    tx.send_signal(signal.SIGTERM)
    out_text, err = tx.communicate(timeout=30)
    assert tx.returncode == 0, err
    assert "stopped" in out_text
    assert "Traceback" not in err


@pytest.mark.parametrize("args,fragment", [
    (["--sink", "bogus"], "unknown sink 'bogus'"),
    (["--sink", "file:/tmp/never", "--waveform", "/nonexistent/wf.bin"],
     "waveform file '/nonexistent/wf.bin' not found"),
    (["--freq", "abc"], "'abc' is not a number"),
    (["--sink", "file:"], "needs a target"),
    (["--sink", "file:/tmp/never", "--amplitude", "3"], "amplitude"),
])
def test_tx_bad_input_is_one_clear_line(args, fragment):
    assert_one_line_error(run_cli("tx", *args), fragment)


@pytest.mark.timeout(120)
def test_tx_uhd_without_a_radio_is_one_clear_line():
    p = run_cli("tx", "--sink", "uhd", "--serial", "NOSUCHSERIAL")
    assert_one_line_error(p, "uhd sink")


def test_transmit_path_imports_no_qt(tmp_path):
    code = f"""
import sys
from gnuradio.arraycal import cli
from gnuradio.arraycal.flowgraphs.arraycal_tx import arraycal_tx
tb = arraycal_tx(sink='file:{tmp_path / "x.c64"}', duration=0.001)
tb.run()
qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PyQt5', 'PyQt6', 'sip', 'PySide2', 'PySide6') or m.startswith('gnuradio.qtgui'))
print(qt)
sys.exit(1 if qt else 0)
"""
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
