#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""los_logger (C++): the receive chain's LoS messages as docs/design.md's los.csv.

The reference for every row is the format the log is specified with, written
by Python: "{:.7f},{},{},{:.7g},{:.7g},{:.4e},{:.2f}" per frame and channel.
"""

import numpy as np
import pmt
import pytest
from gnuradio import arraycal, blocks, gr

from simchan import multichannel_stream

FS = 4e6
HEADER = "gps_time,seq,channel,re,im,delay_s,snr_db"


def rows_of(d):
    """The reference rows of one LoS message (as a Python dict)."""
    los = np.asarray(d["los"], dtype=np.complex64)
    return [f"{d['gps_time']:.7f},{d['seq']},{c},{float(los[c].real):.7g},"
            f"{float(los[c].imag):.7g},{d['delay_s'][c]:.4e},{d['snr_db'][c]:.2f}"
            for c in range(len(los))]


def los_message(gps_time, seq, gains, delays, snrs, valid=None):
    """A LoS dict as the receive chain makes it (seq a uint64)."""
    d = pmt.make_dict()
    d = pmt.dict_add(d, pmt.intern("gps_time"), pmt.from_double(gps_time))
    d = pmt.dict_add(d, pmt.intern("seq"), pmt.from_uint64(seq))
    d = pmt.dict_add(d, pmt.intern("los"), pmt.init_c32vector(len(gains), list(gains)))
    d = pmt.dict_add(d, pmt.intern("delay_s"), pmt.init_f64vector(len(delays), list(delays)))
    d = pmt.dict_add(d, pmt.intern("snr_db"), pmt.init_f64vector(len(snrs), list(snrs)))
    valid = [1] * len(gains) if valid is None else valid
    d = pmt.dict_add(d, pmt.intern("valid"), pmt.init_u8vector(len(valid), list(valid)))
    return d


def stream(n_packets, seed):
    rng = np.random.default_rng(seed)
    return multichannel_stream(arraycal.packet(), n_packets, [[(1.0, 0.3)], [(0.8j, 0.35)]],
                               cfo_hz=1500, samp_rate=FS, snr_db=20, rng=rng, lead=300)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def test_whole_chain_log_is_the_messages_in_the_specified_format(tmp_path):
    """Stream -> rx_chain -> los_logger and message_debug: one header, then
    exactly the reference rows of every message, in order."""
    sig = stream(60, seed=11)
    path = tmp_path / "los.csv"
    tb = gr.top_block()
    chain = arraycal.rx_chain(num_chans=2, samp_rate=FS)
    log = arraycal.los_logger(str(path))
    dbg = blocks.message_debug()
    for c in range(2):
        tb.connect(blocks.vector_source_c(sig[c].tolist(), False), (chain, c))
    tb.msg_connect(chain, "los", log, "los")
    tb.msg_connect(chain, "los", dbg, "store")
    tb.run()  # returns once the logger's queue is written too
    msgs = [pmt.to_python(dbg.get_message(i)) for i in range(dbg.num_messages())]
    assert len(msgs) >= 58  # the chain found (nearly) every packet
    assert log.count() == len(msgs) and log.rejected() == 0 and log.lost() == 0
    # in the file before close(): one write per frame, nothing buffered
    expected = [HEADER] + [r for d in msgs for r in rows_of(d)]
    assert read_lines(path) == expected
    log.close()
    assert read_lines(path) == expected


def test_appends_to_an_existing_log_without_a_second_header(tmp_path):
    path = tmp_path / "los.csv"
    path.write_text(HEADER + "\n1.0000000,0,0,1,0,0.0000e+00,30.00\n", encoding="utf-8")
    sig = stream(8, seed=12)
    tb = gr.top_block()
    chain = arraycal.rx_chain(num_chans=2, samp_rate=FS)
    log = arraycal.los_logger(str(path))
    for c in range(2):
        tb.connect(blocks.vector_source_c(sig[c].tolist(), False), (chain, c))
    tb.msg_connect(chain, "los", log, "los")
    tb.run()
    log.close()
    lines = read_lines(path)
    assert lines[:2] == [HEADER, "1.0000000,0,0,1,0,0.0000e+00,30.00"]
    assert lines.count(HEADER) == 1
    assert len(lines) == 2 + 2 * log.count() and log.count() >= 6


def test_edge_values_bad_messages_and_the_queue_at_stop(tmp_path):
    """Messages posted to a running flowgraph and still queued when it stops are
    written by stop(); edge values are written as Python writes them; messages
    that are not LoS dicts are counted, not written."""
    path = tmp_path / "los.csv"
    sig = stream(4, seed=13)
    tb = gr.top_block()
    chain = arraycal.rx_chain(num_chans=2, samp_rate=FS)
    log = arraycal.los_logger(str(path))
    for c in range(2):  # a looping source: the flowgraph runs until stop()
        tb.connect(blocks.vector_source_c(sig[c].tolist(), True), (chain, c))
    tb.msg_connect(chain, "los", log, "los")
    edge = [
        dict(gps_time=1_400_000_000.1234567, seq=2**64 - 1, los=[complex(np.nan, -0.0), 1e-30j],
             delay_s=[-1.25e-7, np.inf], snr_db=[-np.inf, 123.456]),
        dict(gps_time=0.0, seq=7, los=[complex(3.4e38, -1.5e-45), 0j], delay_s=[0.0, 1.0],
             snr_db=[np.nan, 0.0]),
    ]
    posted = [los_message(10**12 + i, 10**15 + i, [0.5 + 0.25j * i, -1.0], [i * 1e-7, 2e-7],
                          [30.0 + i, 12.5]) for i in range(200)]
    posted += [los_message(e["gps_time"], e["seq"], e["los"], e["delay_s"], e["snr_db"])
               for e in edge]
    bad = [pmt.intern("not a dict"),
           pmt.dict_add(pmt.make_dict(), pmt.intern("seq"), pmt.from_uint64(1)),
           los_message(1.0, 1, [1.0, 2.0], [0.0], [1.0, 2.0])]  # lengths differ
    tb.start()
    port = pmt.intern("los")
    for m in posted + bad:
        log._post(port, m)
    tb.stop()
    tb.wait()
    log.close()
    lines = read_lines(path)
    assert lines[0] == HEADER
    assert log.rejected() == len(bad) and log.lost() == 0
    assert len(lines) == 1 + 2 * log.count()  # nothing else, nothing partial
    body = set(lines[1:])
    for i in range(200):
        d = dict(gps_time=10**12 + i, seq=10**15 + i, los=[0.5 + 0.25j * i, -1.0],
                 delay_s=[i * 1e-7, 2e-7], snr_db=[30.0 + i, 12.5])
        assert set(rows_of(d)) <= body, i
    for e in edge:
        assert set(rows_of(e)) <= body, e
    # what the edge rows look like, spelled out (Python's float formats)
    assert "1400000000.1234567,18446744073709551615,0,nan,-0,-1.2500e-07,-inf" in body
    assert "0.0000000,7,0,3.4e+38,-1.401298e-45,0.0000e+00,nan" in body


def test_a_log_that_cannot_be_opened_is_one_clear_error(tmp_path):
    missing = tmp_path / "no such dir" / "los.csv"
    with pytest.raises(RuntimeError, match="cannot open .*no such dir.*for appending"):
        arraycal.los_logger(str(missing))


def test_a_batched_chain_writes_the_same_log_as_a_per_frame_one(tmp_path):
    # the logger writes a batch message's frames in order, each frame's
    # channels in order: the same bytes as one message per frame
    sig = stream(25, seed=7)
    logs = []
    for batch in (1, 6):
        path = str(tmp_path / f"los_{batch}.csv")
        chain = arraycal.rx_chain(num_chans=2, samp_rate=FS, batch_frames=batch)
        logger = arraycal.los_logger(path)
        tb = gr.top_block()
        for c in range(2):
            tb.connect(blocks.vector_source_c(sig[c].tolist(), False), (chain, c))
        tb.msg_connect(chain, "los", logger, "los")
        tb.run()
        logger.close()
        assert logger.count() == chain.stats()["los"] >= 24 and logger.rejected() == 0
        logs.append(read_lines(path))
    assert logs[0] == logs[1] and len(logs[0]) == 1 + 2 * (len(logs[0]) - 1) // 2


def test_a_channel_flagged_not_valid_is_logged_as_nan_and_read_back_as_not_valid(tmp_path):
    """A frame whose LoS the chain did not find above the noise (valid 0) must not come
    back as a good frame when the log is read: its snr_db is written as nan, which
    read_los_csv marks not valid and the estimator rejects as low SNR."""
    from gnuradio.arraycal.calibration import pipeline
    path = tmp_path / "los.csv"
    tb = gr.top_block()
    chain = arraycal.rx_chain(num_chans=2, samp_rate=FS)
    log = arraycal.los_logger(str(path))
    sig = stream(4, seed=13)
    for c in range(2):  # a looping source: the flowgraph runs until stop()
        tb.connect(blocks.vector_source_c(sig[c].tolist(), True), (chain, c))
    tb.msg_connect(chain, "los", log, "los")
    t0 = 2e9  # far from the chain's own frames (its clock starts at 0)
    port = pmt.intern("los")
    tb.start()
    log._post(port, los_message(t0, 1, [1.0, 0.5j], [1e-7, 1e-7], [30.0, 25.0]))
    log._post(port, los_message(t0 + 0.125, 2, [1.0, 0.5j], [1e-7, 1e-7], [30.0, 25.0], [1, 0]))
    # a valid vector of the wrong length is a malformed message: counted, not written
    log._post(port, los_message(t0 + 0.25, 3, [1.0, 0.5j], [1e-7, 1e-7], [30.0, 25.0], [1]))
    tb.stop()
    tb.wait()
    log.close()
    mine = [ln for ln in read_lines(path) if ln.startswith("2000000000.")]
    assert mine == ["2000000000.0000000,1,0,1,0,1.0000e-07,30.00",
                    "2000000000.0000000,1,1,0,0.5,1.0000e-07,25.00",
                    "2000000000.1250000,2,0,1,0,1.0000e-07,30.00",
                    "2000000000.1250000,2,1,0,0.5,1.0000e-07,nan"]
    assert log.rejected() == 1
    frames = list(pipeline.read_los_csv(str(path)))
    t = np.concatenate([b["gps_time"] for b in frames])
    valid = np.concatenate([b["valid"] for b in frames])[t >= t0]
    assert valid.tolist() == [[1, 1], [1, 0]]
