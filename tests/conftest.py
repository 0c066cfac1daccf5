#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Shared fixtures. Tests run against the INSTALLED module (./bootstrap test installs first)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"   # provenance: data/README.md
THESIS = DATA / "thesis"
UBX_DIR = DATA / "ubx"
PY = "/usr/bin/python3"
ARRAYCAL = "arraycal"

sys.path.insert(0, str(Path(__file__).resolve().parent))


def data_file(*parts):
    """A file of the repository's test data (tests/data), which must be there."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.fail(f"test data missing: {p}")
    return p


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args, timeout=120, env=None, cwd=None, input=None):
    """Run the installed `arraycal` command; returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.pop("DISPLAY", None)
    if env:
        e.update(env)
    return subprocess.run([ARRAYCAL, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=cwd, input=input)


def assert_one_line_error(proc, *fragments):
    """Exit code 2, exactly one line on stderr (UHD's own log lines aside), no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines()
             if ln.strip() and not ln.startswith("[INFO] [UHD]")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]
