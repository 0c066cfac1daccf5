#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""gr-arraycal as a citizen of GNU Radio's ecosystem, against the INSTALLED module:
C++ flowgraphs from GRC, stock-UHD flowgraphs, gr_modtool, CMake and pkg-config,
the Debian package, the command's --version / -v / -q / help.

Works for an install to /usr/local and to ARRAYCAL_PREFIX alike: the prefix is
where the imported module lives; CMAKE_PREFIX_PATH / PKG_CONFIG_PATH from the
environment are kept and the prefix put first.
"""

import ast
import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import PY, REPO, run_cli

FS = 4e6            # samp_rate of examples/cpp/los_receiver_cpp.grc
DELAY1 = 3          # channel 1 delay (samples) and gain given to the C++ flowgraph
GAIN1 = 0.5


def project_version():
    text = (REPO / "CMakeLists.txt").read_text()
    return re.search(r"project\(gr-arraycal VERSION (\d+\.\d+\.\d+)", text).group(1)


def install_prefix():
    from gnuradio import arraycal
    # PREFIX/lib/python3.X/{site,dist}-packages/gnuradio/arraycal/__init__.py
    return Path(arraycal.__file__).resolve().parents[5]


def tool_env():
    """The environment with the install prefix first for CMake, pkg-config and GRC."""
    p = install_prefix()
    e = dict(os.environ)
    e.pop("DISPLAY", None)

    def first(var, value):
        e[var] = os.pathsep.join([str(value)] + [x for x in e.get(var, "").split(os.pathsep) if x])
    first("CMAKE_PREFIX_PATH", p)
    first("PKG_CONFIG_PATH", p / "lib" / "pkgconfig")
    first("GRC_BLOCKS_PATH", p / "share" / "gnuradio" / "grc" / "blocks")
    # GNU Radio's own blocks only from its configured paths: /usr/local may hold
    # another install of these blocks, which GRC would let override the prefix's
    from gnuradio import gr
    e["GR_CONF_GRC_GLOBAL_BLOCKS_PATH"] = str(Path(gr.prefix()) / "share/gnuradio/grc/blocks")
    if shutil.which("ccache"):
        e.setdefault("CCACHE_BASEDIR", "/work" if Path("/work").is_dir() else "/")
    return e


def run(cmd, timeout, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       env=kw.pop("env", None) or tool_env(), **kw)
    assert p.returncode == 0, (cmd, p.stdout[-3000:], p.stderr[-3000:])
    return p


def cmake_build(src, build, timeout):
    launcher = ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"] if shutil.which("ccache") else []
    run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release", *launcher], timeout)
    run(["cmake", "--build", build, "-j2"], timeout)


def read_los(path):
    """los.csv -> {(seq, channel): (complex gain, delay_s, gps_time)}."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {(int(r["seq"]), int(r["channel"])): (complex(float(r["re"]), float(r["im"])),
                                                  float(r["delay_s"]), float(r["gps_time"]))
            for r in rows}


# ---------------------------------------------------------------- version, help, logging
def test_version_is_the_project_version():
    p = run_cli("--version")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"arraycal {project_version()}"


def test_every_option_of_every_verb_shows_its_default():
    """Each option with a default (not a flag) names it in --help, added once by the parser."""
    from gnuradio.arraycal.cli import build_parser
    import argparse
    missing = []

    def walk(parser, name):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for verb, sub in a.choices.items():
                    walk(sub, f"{name} {verb}")
            elif a.option_strings and a.nargs != 0 and a.default not in (None, argparse.SUPPRESS):
                text = a.help or ""
                v = a.default
                value = f"{v:g}" if isinstance(v, float) else str(v)
                # "(default: X)", or the value in parentheses as the verb wrote it: "seconds (30)"
                if "default" not in text.lower() and not re.search(
                        r"\(" + re.escape(value) + r"[ ,)]", text):
                    missing.append(f"{name} {a.option_strings[0]}: {text!r}")
    walk(build_parser(), "arraycal")
    assert not missing, missing
    # and it reads as the user sees it: engineering numbers, empty strings shown
    h = run_cli("tx", "--help").stdout
    assert "(default: 1.3e+09)" in h and "--antenna ANTENNA" in h
    assert re.search(r"--antenna ANTENNA\s+default: TX/RX", h), h
    assert re.search(r"--serial SERIAL .*\(default: ''\)", h), h


def test_verbose_and_quiet_set_the_log_level():
    import logging
    from gnuradio.arraycal.cli import build_parser
    from gnuradio.arraycal.cli.common import setup_logging
    levels = {}
    for flags in ([], ["-v"], ["-vv"], ["-q"], ["-v", "-q"], ["-qqq"], ["-vvvv"]):
        levels[" ".join(flags)] = setup_logging(build_parser().parse_args(flags + ["demo"]))
    assert levels == {"": logging.WARNING, "-v": logging.INFO, "-vv": logging.DEBUG,
                      "-q": logging.ERROR, "-v -q": logging.WARNING, "-qqq": logging.ERROR,
                      "-vvvv": logging.DEBUG}
    # -q also silences a verb's own progress bar
    args = build_parser().parse_args(["-q", "demo"])
    setup_logging(args)
    assert args.quiet is True
    logging.getLogger().setLevel(logging.WARNING)


# ---------------------------------------------------------------- pkg-config, CMake
def test_pkg_config_modversion_and_flags():
    e = tool_env()
    v = run(["pkg-config", "--modversion", "gnuradio-arraycal"], 60, env=e).stdout.strip()
    assert v == project_version()
    libs = run(["pkg-config", "--libs", "gnuradio-arraycal"], 60, env=e).stdout.split()
    assert "-lgnuradio-arraycal" in libs
    libdirs = [Path(x[2:]).resolve() for x in libs if x.startswith("-L")]
    assert any((d / "libgnuradio-arraycal.so").exists() for d in libdirs), libs
    cflags = run(["pkg-config", "--cflags-only-I", "gnuradio-arraycal"], 60, env=e).stdout.split()
    assert any((Path(x[2:]) / "gnuradio/arraycal/zc_sync.h").exists() for x in cflags), cflags


@pytest.mark.timeout(300)
def test_versioned_find_package(tmp_path):
    """find_package(gnuradio-arraycal 0.1) is found; 0.2 and 1.0 (other API) are not."""
    (tmp_path / "CMakeLists.txt").write_text("""cmake_minimum_required(VERSION 3.16)
project(uses_arraycal CXX)
find_package(gnuradio-arraycal 0.1 REQUIRED)
message(STATUS "ARRAYCAL_VERSION=${gnuradio-arraycal_VERSION}")
if(NOT TARGET gnuradio::gnuradio-arraycal)
    message(FATAL_ERROR "no imported target gnuradio::gnuradio-arraycal")
endif()
foreach(v 0.2 1.0)
    find_package(gnuradio-arraycal ${v} QUIET)
    message(STATUS "ARRAYCAL_${v}_FOUND=${gnuradio-arraycal_FOUND}")
endforeach()
""")
    out = run(["cmake", "-S", tmp_path, "-B", tmp_path / "b"], 240).stdout
    assert f"ARRAYCAL_VERSION={project_version()}" in out
    assert "ARRAYCAL_0.2_FOUND=0" in out and "ARRAYCAL_1.0_FOUND=0" in out, out


# ---------------------------------------------------------------- C++ flowgraph
@pytest.mark.timeout(900)
def test_cpp_flowgraph_from_grc_builds_and_measures_the_second_channel(tmp_path):
    """examples/cpp: GRC's C++ output with every C++ block builds against the install
    (find_package(gnuradio-arraycal 0.1)) and runs. Channel 1 is channel 0 delayed by
    3 samples and scaled by 0.5, so both chains (one block; four blocks) must find
    LoS(1)/LoS(0) = 0.5 at 0 deg and a delay 3 samples longer, and agree frame by frame."""
    env = tool_env()
    run(["grcc", "-o", tmp_path, REPO / "examples/cpp/los_receiver_cpp.grc"], 300, env=env)
    src = tmp_path / "los_receiver_cpp"
    cm = (src / "CMakeLists.txt").read_text()
    assert "find_package(gnuradio-arraycal 0.1)" in cm and "gnuradio::gnuradio-arraycal" in cm
    cmake_build(src, src / "build", 700)
    exe = src / "build" / "los_receiver_cpp"
    work = tmp_path / "run"
    work.mkdir()
    assert run_cli("waveform", "--out", work / "packet.c64").returncode == 0
    n_packets = 60
    t0 = 100.0      # GPS - rx_time: without rx_time tags, frame k is at t0 + k K / fs
    run([exe, "--num_samples", 1278 * n_packets, "--delay1", DELAY1, "--gain1", GAIN1,
         "--gps_minus_rx_time_s", t0, "--sync_threshold", 0.3], 120, cwd=work, env=env)
    one = read_los(work / "los.csv")
    four = read_los(work / "los_blocks.csv")
    # every packet but at most the one cut by the end of the stream
    for log in (one, four):
        seqs = sorted({s for s, _ in log})
        assert len(seqs) >= n_packets - 2 and seqs == list(range(len(seqs))), seqs
        # the first packet of the delayed channel starts with 3 zeros: not cyclic
        for s in seqs[1:]:
            (z0, d0, g0), (z1, d1, g1) = log[s, 0], log[s, 1]
            assert g0 == g1 and abs(g0 - (t0 + s * 1278 / FS)) < 1e-6, (s, g0)
            r = z1 / z0
            assert abs(abs(r) - GAIN1) < 1e-4, (s, r)
            assert abs(np.degrees(np.angle(r))) < 0.05, (s, r)
            assert abs((d1 - d0) * FS - DELAY1) < 1e-3, (s, d0, d1)
    for key in set(one) & set(four):
        assert abs(one[key][0] - four[key][0]) < 1e-4 * abs(one[key][0]), key
    assert len(set(one) & set(four)) >= 2 * (n_packets - 2)


def test_cpp_templates_default_to_the_built_in_packet_in_both_languages():
    """An empty packet / preamble means the built-in one: in the Python make and in the
    C++ initializer GRC writes (values identical to arraycal.packet() in float32)."""
    import yaml
    from gnuradio import arraycal
    for block, param, builtin in (("zc_sync", "preamble", "preamble"),
                                  ("ls_chanest", "packet", "packet"),
                                  ("los_receiver", "packet", "packet")):
        y = yaml.safe_load((REPO / f"grc/arraycal_{block}.block.yml").read_text())
        p = next(x for x in y["parameters"] if x["id"] == param)
        assert p["default"] == "[]"
        assert f"arraycal.{builtin}()" in y["templates"]["make"]
        assert f"_arraycal.{builtin}()" in y["cpp_templates"]["make"]
        assert y["cpp_templates"]["packages"] == ["gnuradio-arraycal 0.1"]
    assert len(arraycal.packet()) == 1278


# ---------------------------------------------------------------- stock UHD flowgraphs
@pytest.mark.parametrize("name,cls,block", [
    ("arraycal_tx_uhd", "arraycal_tx_uhd", "uhd.usrp_sink("),
    ("arraycal_rx_headless", "arraycal_rx_headless", "uhd.usrp_source("),
])
def test_stock_uhd_flowgraph_is_installed_and_reaches_the_radio(name, cls, block):
    """Compiled by grcc at build time, installed with its .grc; no Qt; constructing it
    gets as far as UHD, which finds no USRP here."""
    apps = install_prefix() / "share/gr-arraycal/apps"
    assert (apps / f"{name}.grc").exists() and (apps / f"{name}.py").exists()
    code = (apps / f"{name}.py").read_text()
    assert block in code and "qtgui" not in code and "PyQt5" not in code
    # no GUI and a clean stop on SIGTERM (systemd's stop signal)
    assert "signal.signal(signal.SIGTERM, sig_handler)" in code and "tb.stop()" in code
    prog = ("import importlib, sys\n"
            f"m = importlib.import_module('gnuradio.arraycal.flowgraphs.{name}')\n"
            f"assert 'PyQt5' not in sys.modules\n"
            "try:\n"
            f"    m.{cls}()\n"
            "except RuntimeError as e:\n"
            "    print('RuntimeError:', ' '.join(str(e).split()))\n")
    p = subprocess.run([PY, "-c", prog], capture_output=True, text=True, timeout=120,
                       env=tool_env())
    assert p.returncode == 0, p.stderr
    assert "RuntimeError:" in p.stdout and "No devices found" in p.stdout, p.stdout


def test_qt_receiver_flowgraph_is_installed_and_plots_offsets():
    """The Qt receiver (share/gr-arraycal/apps): stock USRP Source, CIR plot, and the
    offsets plotted per element: its embedded block turns an offsets message into
    phase (deg) and amplitude (dB) PDUs, checked here on known offsets."""
    apps = install_prefix() / "share/gr-arraycal/apps"
    code = (apps / "arraycal_rx.py").read_text()
    assert "uhd.usrp_source(" in code and "qtgui.vector_sink_f(" in code
    assert code.count("qtgui.time_sink_f(") == 2
    prog = ("import sys, numpy as np, pmt\n"
            f"sys.path.insert(0, {str(apps)!r})\n"
            "import arraycal_rx\n"
            "import arraycal_rx_offsets_to_pdus as e\n"
            "b = e.blk(); out = {}\n"
            "b.message_port_pub = lambda port, m: out.__setitem__(pmt.symbol_to_string(port),\n"
            "    list(pmt.f32vector_elements(pmt.cdr(m))))\n"
            "z = [1, 0.5j, 2 * np.exp(-1j * np.pi / 3)]\n"
            "b.handle(pmt.dict_add(pmt.make_dict(), pmt.intern('offsets'),\n"
            "                      pmt.init_c32vector(3, z)))\n"
            "print(repr(out))\n")
    p = subprocess.run([PY, "-c", prog], capture_output=True, text=True, timeout=120,
                       env=dict(tool_env(), QT_QPA_PLATFORM="offscreen"))
    assert p.returncode == 0, p.stderr
    out = ast.literal_eval(p.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(out["phase_deg"], [0, 90, -60], atol=1e-4)
    np.testing.assert_allclose(out["amp_db"], [0, 20 * np.log10(0.5), 20 * np.log10(2)],
                               atol=1e-5)


def test_tx_uhd_runs_the_stock_uhd_flowgraph():
    """`arraycal tx --sink uhd` goes through the stock UHD: USRP Sink flowgraph."""
    src = (REPO / "python/arraycal/cli/tx.py").read_text()
    assert "flowgraphs.arraycal_tx_uhd import arraycal_tx_uhd" in src
    unit = (install_prefix() / "lib/systemd/system/arraycal-tx.service").read_text()
    assert re.search(r"^ExecStart=arraycal tx \$ARRAYCAL_TX_ARGS$", unit, re.M)
    assert "KillSignal=SIGTERM" in unit


# ---------------------------------------------------------------- gr_modtool
def copy_tree(dst):
    """The working tree (tracked and new files, not build products) into dst."""
    files = subprocess.run(["git", "-C", REPO, "ls-files", "--cached", "--others",
                            "--exclude-standard"], capture_output=True, text=True,
                           timeout=60, check=True).stdout.split("\n")
    for f in files:
        if not f or f.startswith("tests/data/") or not (REPO / f).is_file():
            continue
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, dst / f)


@pytest.mark.timeout(600)
def test_gr_modtool_add_a_cpp_block_on_a_copy(tmp_path):
    """gr_modtool add (its questions answered on stdin) edits the copy without crashing,
    the new block's binding is called from the module, the copy still configures, and
    the edited bindings compile."""
    copy = tmp_path / "gr-arraycal"
    copy.mkdir()
    copy_tree(copy)
    p = subprocess.run(["gr_modtool", "add", "-t", "sync", "-l", "cpp", "--copyright",
                        "gr-arraycal authors", "--argument-list", "float gain",
                        "--scm-mode", "no", "gain_stage"],
                       input="n\nn\n", capture_output=True, text=True, timeout=120, cwd=copy,
                       env=tool_env())
    assert p.returncode == 0 and "Traceback" not in p.stderr + p.stdout, p.stdout + p.stderr
    b = copy / "python/arraycal/bindings"
    main = (b / "python_bindings.cc").read_text()
    assert re.search(r"BINDING_FUNCTION_PROTOTYPES\(\s*void bind_gain_stage\(py::module& m\);",
                     main), main
    assert re.search(r"BINDING_FUNCTION_CALLS\(\s*bind_gain_stage\(m\);", main), main
    assert "gain_stage_python.cc" in (b / "CMakeLists.txt").read_text()
    assert "gain_stage_impl.cc" in (copy / "lib/CMakeLists.txt").read_text()
    assert (b / "docstrings/gain_stage_pydoc_template.h").exists()
    assert (copy / "grc/arraycal_gain_stage.block.yml").exists()
    # the edited CMake files configure (gr_modtool's GR_ADD_TEST and pydoc template too)
    build = tmp_path / "build"
    run(["cmake", "-S", copy, "-B", build, f"-DPYTHON_EXECUTABLE={PY}"], 300)
    assert (build / "python/arraycal/bindings/docstrings/gain_stage_pydoc.h").exists()
    # the bindings compile: the generated one and the edited module (syntax and types)
    import sysconfig
    for f in ("gain_stage_python.cc", "python_bindings.cc"):
        run(["g++", "-std=c++17", "-fsyntax-only", "-I", copy / "include",
             "-I", build / "python/arraycal/bindings/docstrings", "-I", b / "docstrings",
             "-I", sysconfig.get_paths()["include"],
             b / f], 240)


# ---------------------------------------------------------------- Debian package
@pytest.mark.timeout(600)
def test_debian_package_file_list_and_dependencies(tmp_path):
    """cpack -G DEB from the bootstrap's build directory: what a Raspberry Pi transmitter
    fleet installs. Paths are checked under the build's install prefix."""
    build = REPO / "build"
    cache = build / "CMakeCache.txt"
    assert cache.exists(), "no build/ directory: run ./bootstrap install first"
    prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache.read_text(), re.M).group(1)
    run(["cpack", "-G", "DEB", "--config", build / "CPackConfig.cmake", "-B", tmp_path], 500)
    debs = list(tmp_path.glob("gr-arraycal_*.deb"))
    assert len(debs) == 1, list(tmp_path.iterdir())
    deb = debs[0]
    field = lambda f: run(["dpkg-deb", "-f", deb, f], 60).stdout.strip()  # noqa: E731
    assert field("Package") == "gr-arraycal" and field("Version") == project_version()
    depends = [d.strip().split()[0] for d in field("Depends").split(",")]
    for need in ("gnuradio", "python3-numpy", "python3-scipy", "python3-yaml", "python3-zmq",
                 "python3-uhd", "uhd-host"):
        assert need in depends, (need, depends)
    # dpkg-shlibdeps: the library's own run-time libraries
    assert any(d.startswith("libgnuradio-runtime") for d in depends), depends
    assert any(d.startswith("libvolk") for d in depends), depends
    listing = run(["dpkg-deb", "-c", deb], 60).stdout.splitlines()
    # "perms owner size date time ./path[ -> target]"
    files = {"/" + line.split(" -> ")[0].split()[-1].lstrip("./")
             for line in listing if not line.endswith("/")}
    files = {f[len(prefix):] for f in files if f.startswith(prefix + "/")}
    expected = {"/bin/arraycal", "/lib/libgnuradio-arraycal.so", "/lib/pkgconfig/gnuradio-arraycal.pc",
                "/lib/cmake/gnuradio-arraycal/gnuradio-arraycalConfig.cmake",
                "/lib/cmake/gnuradio-arraycal/gnuradio-arraycalConfigVersion.cmake",
                "/include/gnuradio/arraycal/los_receiver.h",
                "/share/gnuradio/grc/blocks/arraycal_los_receiver.block.yml",
                "/share/gr-arraycal/apps/arraycal_tx_uhd.grc",
                "/share/gr-arraycal/apps/arraycal_tx_uhd.py",
                "/share/gr-arraycal/apps/arraycal_rx_headless.grc",
                "/share/gr-arraycal/deploy/arraycal-tx.env",
                "/lib/systemd/system/arraycal-tx.service",
                "/share/doc/gr-arraycal/LICENSE", "/share/doc/gr-arraycal/MANIFEST.md"}
    assert expected <= files, sorted(expected - files)
    py = [f for f in files if f.endswith("/gnuradio/arraycal/flowgraphs/arraycal_tx_uhd.py")]
    assert len(py) == 1, "the transmitter flowgraph module is not in the package"
    assert any(re.search(r"/gnuradio/arraycal/arraycal_python\..*\.so$", f) for f in files)
    # nothing of the build tree or tests
    assert not [f for f in files if "/tests/" in f or "CMakeFiles" in f]


# ---------------------------------------------------------------- uninstall
@pytest.mark.timeout(600)
def test_uninstall_removes_every_installed_file(tmp_path):
    """An install of the bootstrap's build into a scratch prefix, then `make uninstall`:
    every file the install wrote is gone. build/install_manifest.txt (which the
    bootstrap reads) is put back afterwards."""
    build = REPO / "build"
    manifest = build / "install_manifest.txt"
    assert (build / "CMakeCache.txt").exists(), "no build/ directory: run ./bootstrap install"
    saved = manifest.read_bytes() if manifest.exists() else None
    scratch = tmp_path / "prefix"
    try:
        run(["cmake", "--install", build, "--prefix", scratch], 300)
        installed = [Path(x) for x in manifest.read_text().split("\n") if x]
        assert installed and all(str(f).startswith(str(scratch)) for f in installed)
        assert all(f.exists() or f.is_symlink() for f in installed)
        assert (scratch / "lib/libgnuradio-arraycal.so").is_symlink()
        run(["cmake", "--build", build, "--target", "uninstall"], 300)
        left = [f for f in scratch.rglob("*") if f.is_file() or f.is_symlink()]
        assert not left, left[:10]
    finally:
        if saved is not None:
            manifest.write_bytes(saved)
