#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Every .grc in the repository compiles with grcc and its generated Python imports."""

import os
import subprocess
import sys

import pytest

from conftest import REPO

# not build products nor an ARRAYCAL_PREFIX install inside the tree (.prefix)
GRC_FILES = sorted(p for p in REPO.rglob("*.grc")
                   if "build" not in p.parts and not any(x.startswith(".") for x in
                                                         p.relative_to(REPO).parts))


def test_there_are_flowgraphs():
    names = {p.name for p in GRC_FILES}
    assert "arraycal_tx.grc" in names


@pytest.mark.timeout(120)
@pytest.mark.parametrize("grc", GRC_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_grc_compiles_and_imports(grc, tmp_path):
    # against the installed block definitions, as a user's GRC sees them: the
    # bootstrap's GRC_BLOCKS_PATH names a private prefix's; then GNU Radio's own
    # blocks only, since /usr/local may hold an older install of these
    env = dict(os.environ)
    if env.get("GRC_BLOCKS_PATH"):
        from gnuradio import gr
        env["GR_CONF_GRC_GLOBAL_BLOCKS_PATH"] = os.path.join(gr.prefix(),
                                                             "share/gnuradio/grc/blocks")
    p = subprocess.run(["grcc", "-o", str(tmp_path), str(grc)], capture_output=True, text=True,
                       timeout=100, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    cpp = [f for f in tmp_path.glob("*/*.cpp")]
    if cpp:
        # a C++ flowgraph: test_ecosystem builds and runs it
        assert (cpp[0].parent / "CMakeLists.txt").exists(), p.stdout
        return
    generated = [f for f in tmp_path.iterdir() if f.suffix == ".py"]
    assert generated, p.stdout
    for f in generated:
        # import in a fresh interpreter without a screen: defining the top
        # block class must not need a USRP or a display
        code = ("import importlib.util, sys; "
                f"s = importlib.util.spec_from_file_location('fg', {str(f)!r}); "
                "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)")
        env2 = dict(os.environ)
        env2.pop("DISPLAY", None)
        env2["QT_QPA_PLATFORM"] = "offscreen"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, cwd=str(tmp_path), env=env2)
        assert r.returncode == 0, r.stderr
