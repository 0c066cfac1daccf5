#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The one live receiver (radio.receiver) and the one flowgraph runner
(signals.run_flowgraph) that every command uses."""

import os
import signal

import numpy as np
import pytest
from gnuradio import arraycal, blocks, gr

from simchan import multichannel_stream
from gnuradio.arraycal.radio.recording import open_recording
from gnuradio.arraycal.signals import Terminated, run_flowgraph

FS = 1e6
PKT = arraycal.packet()
K = len(PKT)
GAINS = (1.0, 0.8j)


def stream(n_packets, snr_db=40.0, seed=3):
    return multichannel_stream(PKT, n_packets, [[(g, 0.0)] for g in GAINS], samp_rate=FS,
                               snr_db=snr_db, rng=np.random.default_rng(seed), lead=300)


def run_receiver(sig, **kw):
    tb = gr.top_block()
    rx = arraycal.receiver(sig.shape[0], FS, **kw)
    srcs = [blocks.vector_source_c(ch.tolist()) for ch in sig]
    for c, s in enumerate(srcs):
        tb.connect(s, (rx, c))
    sink = None
    if kw.get("estimates_out"):
        sink = blocks.vector_sink_c(K)
        tb.connect(rx, sink)
    tb.run()
    rx.close()
    return rx, sink


@pytest.mark.timeout(120)
@pytest.mark.parametrize("estimates_out", [False, True], ids=["fused", "with-estimates"])
def test_receiver_logs_every_frame_records_the_input_and_taps_the_estimates(
        tmp_path, estimates_out):
    n = 40
    sig = stream(n)
    los = tmp_path / "los.csv"
    rx, sink = run_receiver(sig, los_path=str(los), record=str(tmp_path / "rec"),
                            record_format="cf32", freq=1.3e9, estimates_out=estimates_out)
    rows = np.genfromtxt(los, delimiter=",", names=True)
    seq = rows["seq"].astype(int)
    # every whole packet but the last (the sync's look-ahead runs past the end)
    assert n - 2 <= len(np.unique(seq)) <= n
    assert rx.stats()["logged"] == len(np.unique(seq)) == rx.stats()["los"]
    z = (rows["re"] + 1j * rows["im"]).reshape(-1, 2)
    # the LoS gains are the paths' up to one common factor (40 dB per sample; seed 3:
    # the ratio's error is 2.1e-3 at worst, its mean's 3e-4); bounds about 3x
    ratio = z[:, 1] / z[:, 0]
    assert np.max(np.abs(ratio - GAINS[1] / GAINS[0])) < 6e-3
    assert abs(ratio.mean() - GAINS[1] / GAINS[0]) < 1e-3
    # the recording is the input, sample for sample (cf32 is lossless)
    rec = open_recording(str(tmp_path / "rec.sigmf-meta"))
    assert rec.num_channels == 2 and rec.samples == sig.shape[1]
    data = np.fromfile(rec.data_path, np.complex64).reshape(-1, 2).T
    assert np.array_equal(data, sig)
    if estimates_out:
        # channel 0's LS estimate Y/X of a unit path: 1 in every bin up to the phase
        # the residual CFO turns (seed 3: 0.026 rad at most, |mean| within 1e-3 of 1),
        # noise N/X per bin: var = K * 1e-4 / |X(k)|^2 with X the packet's DFT (the
        # packet is constant-modulus in time, not in frequency); bounds about 3x
        h = np.asarray(sink.data()).reshape(-1, K)
        assert len(h) == len(np.unique(seq))
        m = h.mean(axis=1)
        assert np.max(np.abs(np.abs(m) - 1)) < 3e-3
        assert np.max(np.abs(np.angle(m))) < 0.08
        X = np.fft.fft(PKT)
        expected = np.sqrt(np.mean(K * 1e-4 / np.abs(X) ** 2))
        assert np.std(h / m[:, None] - 1) == pytest.approx(expected, rel=0.1)


def test_receiver_without_a_log_refuses_nothing_and_a_bad_log_path_is_one_error(tmp_path):
    rx, _ = run_receiver(stream(5), los_path="")
    assert rx.logged() == 0 and rx.stats()["frames"] >= 3
    with pytest.raises(arraycal.UserError):
        arraycal.receiver(2, FS, str(tmp_path / "missing" / "los.csv"))


class _Endless(gr.sync_block):
    """A source that runs until told to finish (then ends the flowgraph by itself)."""

    def __init__(self, signal_at_first_work=None):
        gr.sync_block.__init__(self, "endless", in_sig=None, out_sig=[np.complex64])
        self.finishing = False
        self.calls = 0
        self.signal = signal_at_first_work

    def work(self, input_items, output_items):
        self.calls += 1
        if self.calls == 1 and self.signal:
            os.kill(os.getpid(), self.signal)   # taken by the main thread's handler
        if self.finishing:
            return -1                       # WORK_DONE
        output_items[0][:] = 0
        return len(output_items[0])


def endless_graph(signal_at_first_work=None):
    tb = gr.top_block()
    src = _Endless(signal_at_first_work)
    tb.connect(src, blocks.throttle(gr.sizeof_gr_complex, 1e6), blocks.null_sink(8))
    return tb, src


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig,exc", [(signal.SIGINT, KeyboardInterrupt),
                                     (signal.SIGTERM, Terminated)])
def test_a_signal_stops_the_flowgraph_then_raises(sig, exc):
    tb, src = endless_graph(sig)
    before = signal.getsignal(sig)
    with pytest.raises(exc):
        run_flowgraph(tb)
    calls = src.calls
    tb.wait()                                # stopped: returns at once, no more work
    assert src.calls == calls
    # the handlers are the caller's again
    assert signal.getsignal(sig) is before


@pytest.mark.timeout(60)
def test_until_ends_the_run_and_a_failing_callback_stops_the_flowgraph():
    tb, src = endless_graph()
    seen = []
    elapsed, answered = run_flowgraph(tb, until=lambda: seen.append(1) or len(seen) >= 3)
    assert answered == 0 and len(seen) == 3 and elapsed >= 0.4   # polled every 0.2 s
    tb, src = endless_graph()
    with pytest.raises(ZeroDivisionError):
        run_flowgraph(tb, until=lambda: 1 / 0)
    calls = src.calls
    tb.wait()
    assert src.calls == calls


@pytest.mark.timeout(60)
def test_finish_answers_the_first_signal_and_a_second_one_stops_at_once():
    tb, src = endless_graph()

    def finish():
        src.finishing = True
    elapsed, answered = run_flowgraph(tb, on_started=lambda: os.kill(os.getpid(),
                                                                     signal.SIGTERM),
                                      finish=finish)
    assert answered == signal.SIGTERM and src.finishing      # ended by itself, no raise
    tb, src = endless_graph()
    with pytest.raises(KeyboardInterrupt):
        # finish() that does not end the flowgraph: the second signal stops it
        run_flowgraph(tb, on_started=lambda: os.kill(os.getpid(), signal.SIGINT),
                      finish=lambda: os.kill(os.getpid(), signal.SIGINT))
