#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""The documents run as written: every ```sh block of README.md, docs/*.md and
examples/**/README.md.

Each document's blocks run in order, as bash -e scripts (a block is cut at its
marked lines), in one scratch copy of
the repository (so the paths are the repository's and the files an earlier
block wrote), in a network namespace of its own when possible (the fixed ZMQ
ports of the docs then meet no other test), with a scratch calibration store.
A line whose trailing comment starts with a marker is not run, only checked:

  # hardware   needs a USRP or a GNSS receiver: the arraycal command line must
               parse, its input files must exist or be written by an earlier
               line (by name), and a USRP command fails with UHD's "No devices
               found" here, as the docs' troubleshooting says
  # long       too long for the test suite (the full demo, a transmitter that
               runs until stopped): parsed and its input files checked
  # after      needs what the hardware lines above wrote: the same checks
  # setup      system set-up (bootstrap, sudo, git): the bootstrap verb and the
               repository files it names must exist

So a renamed option, path or file name fails here, not for the user.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

MARKERS = ("hardware", "long", "after", "setup")
DOCS = sorted([REPO / "README.md"] + list((REPO / "docs").glob("*.md")) +
              list((REPO / "examples").rglob("README.md")))
# what an unmarked line may run: the project's commands and harmless shell
RUNNABLE = {"arraycal", "grcc", "/usr/bin/python3", "cd", "cp", "mkdir", "kill", "wait", "for",
            "do", "done", "cat", "true", "echo", "ls", "test"}
# options whose value is a file the command reads
INPUT_OPTIONS = ("--iq", "--array", "--tx-gnss", "--rx-gnss", "--los", "--waveform")


def sh_blocks(text):
    return re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)


def logical_lines(block):
    """Lines with backslash continuations joined."""
    out, cur = [], ""
    for ln in block.splitlines():
        if ln.rstrip().endswith("\\"):
            cur += ln.rstrip()[:-1] + " "
            continue
        out.append(cur + ln)
        cur = ""
    if cur:
        out.append(cur)
    return out


def marker(line):
    """The marker of a line's trailing comment, or None."""
    m = re.search(r"\s#\s*(\w+)", line)
    if m and m.group(1) in MARKERS:
        return m.group(1)
    return None


def commands(line):
    """The command words of a shell line (first word and each after ; && || | & do)."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.commenters = "#"
    out, start = [], True
    for tok in lex:
        if tok in (";", "&&", "||", "|", "&", ";;"):
            start = True
        elif start:
            out.append(tok)
            start = tok in ("do", "then")
    return out


def words(line):
    return shlex.split(line, comments=True)


def option(argv, name):
    vals = []
    for i, w in enumerate(argv):
        if w == name and i + 1 < len(argv):
            vals.append(argv[i + 1])
        elif w.startswith(name + "="):
            vals.append(w.split("=", 1)[1])
    return vals


def writes(argv):
    """Files an arraycal command line writes that later steps read (by name)."""
    if argv[:1] != ["arraycal"] or len(argv) < 2:
        return set()
    out = (option(argv, "--out") or [""])[-1]
    verb = argv[1:3]
    if verb == ["gnss", "log"]:
        role = (option(argv, "--role") or ["rx"])[-1]
        name = (option(argv, "--name") or [f"{role}.ubx"])[-1]
        return {os.path.normpath(os.path.join(out, name))}
    if verb[0] == "rx":
        files = {"los.csv", "calibration.json"}
        if "--record" in argv:
            files |= {"recording.sigmf-meta", "recording.sigmf-data"}
        return {os.path.normpath(os.path.join(out, f)) for f in files}
    if verb[0] in ("process", "demo"):
        return {os.path.normpath(os.path.join(out, f))
                for f in ("calibration.json", "los.csv", "report.txt")}
    if verb[0] == "waveform":
        return {os.path.normpath(out)}
    return set()


def reads(argv):
    """Files an arraycal command line reads."""
    files = []
    for opt in INPUT_OPTIONS:
        files += [v for v in option(argv, opt) if not v.startswith("zmq:")]
    if argv[1:3] == ["gnss", "config"]:
        files += [w for w in argv[3:] if not w.startswith("-") and
                  w not in option(argv, "--port") + option(argv, "--layers") +
                  option(argv, "--baud")]
    if argv[1:2] == ["report"] and len(argv) > 2:
        files.append(argv[2])
    return [os.path.normpath(f) for f in files]


def check_line(line, kind, cwd, written):
    """Problems with a line that is not run (see the module docstring); [] if none."""
    from gnuradio.arraycal.cli import build_parser
    argv = words(line)
    problems = []
    if not argv:
        return problems
    if argv[0] == "./bootstrap":
        verbs = re.search(r'case "\$verb" in\n\s*([\w|]+)\)', (REPO / "bootstrap").read_text())
        if len(argv) < 2 or argv[1] not in verbs.group(1).split("|"):
            problems.append(f"bootstrap has no verb {argv[1:2]}")
        return problems
    if argv[0] != "arraycal":
        # system set-up: the repository files it installs must be there
        for w in argv:
            m = re.match(r"/usr/local/share/gr-arraycal/(.+)", w)
            if m and not (REPO / m.group(1)).exists():
                problems.append(f"{w}: the repository has no {m.group(1)}")
        return problems
    try:
        build_parser().parse_args(argv[1:])
    except SystemExit:
        return [f"does not parse: {line.strip()}"]
    for f in reads(argv):
        if f not in written and not (Path(cwd) / f).exists():
            problems.append(f"reads {f}, which no earlier step wrote and the repository lacks")
    return problems


def uhd_command(argv):
    """An arraycal command that opens a USRP (no ZMQ/file source or sink)."""
    if argv[:2] == ["arraycal", "rx"]:
        return not any(s.startswith(("zmq:", "file:")) for s in option(argv, "--source"))
    if argv[:2] == ["arraycal", "tx"]:
        return not any(s.startswith(("zmq:", "file:")) for s in option(argv, "--sink"))
    return False


def scratch_repo(dest):
    """The repository's files (tracked and new, not ignored) copied to dest."""
    try:
        names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                               cwd=REPO, capture_output=True, check=True,
                               timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file() and not
                 {"build", ".prefix", ".git"} & set(p.relative_to(REPO).parts)]
    for n in filter(None, names):
        src = REPO / n
        if src.is_file():
            (dest / n).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / n)


def doc_env(tmp):
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.update(ARRAYCAL_STORE=str(tmp / "store"), HOME=str(tmp / "home"),
               QT_QPA_PLATFORM="offscreen", MPLBACKEND="Agg")
    (tmp / "home").mkdir(exist_ok=True)
    if env.get("GRC_BLOCKS_PATH"):   # the blocks of the install under test, not /usr/local's
        env["GR_CONF_GRC_GLOBAL_BLOCKS_PATH"] = "/usr/share/gnuradio/grc/blocks"
    return env


def own_network():
    """A command prefix that runs in a network namespace with only loopback, if allowed."""
    if shutil.which("unshare") and shutil.which("ip"):
        p = subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"],
                           capture_output=True, timeout=30)
        if p.returncode == 0:
            return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    return []


def run_script(script, cwd, env, timeout):
    """bash -e on script; background jobs it leaves behind are killed with it.

    The output goes to a file, not a pipe: a background job that outlives the
    script (after a failed step) would hold a pipe open until the timeout."""
    path = Path(cwd) / ".doc-block.sh"
    log = Path(cwd) / ".doc-block.out"
    path.write_text("set -e -o pipefail\n" + script + "\n")
    with open(log, "wb") as out:
        p = subprocess.Popen(own_network() + ["bash", str(path)], cwd=cwd, env=env,
                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = 124
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
            path.unlink(missing_ok=True)
    text = log.read_bytes().decode(errors="replace")
    log.unlink(missing_ok=True)
    return rc, text


def test_every_document_has_shell_blocks():
    names = {str(d.relative_to(REPO)) for d in DOCS if sh_blocks(d.read_text())}
    assert {"README.md", "docs/field-procedure.md", "examples/loopback_zmq/README.md",
            "examples/reciprocity_zmq/README.md"} <= names


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("doc", [d for d in DOCS if sh_blocks(d.read_text())],
                         ids=lambda d: str(d.relative_to(REPO)))
def test_document_runs_as_written(doc, tmp_path):
    work = tmp_path / "repo"
    scratch_repo(work)
    env = doc_env(tmp_path)
    written = set()

    def run(lines, n, block):
        if any(ln.strip() and not ln.strip().startswith("#") for ln in lines):
            rc, out = run_script("\n".join(lines), work, env, timeout=600)
            assert rc == 0, f"{doc.name} block {n} failed (exit {rc}):\n{block}\n{out[-4000:]}"

    for n, block in enumerate(sh_blocks(doc.read_text()), 1):
        run_lines = []
        for line in logical_lines(block):
            kind = marker(line)
            if kind is None:
                bad = [c for c in commands(line) if c not in RUNNABLE]
                assert not bad, (f"{doc.name} block {n} would run {bad}: mark the line "
                                 f"(# hardware, # setup, # long): {line}")
                run_lines.append(line)
                continue
            run(run_lines, n, block)   # what the lines before wrote, this one may read
            run_lines = []
            problems = check_line(line, kind, work, written)
            assert not problems, f"{doc.name} block {n}: {problems}"
            argv = words(line)
            written |= writes(argv)
            if kind == "hardware" and uhd_command(argv):
                p = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                                   timeout=120)
                assert p.returncode == 2 and "No devices found" in p.stderr, \
                    (line, p.returncode, p.stderr[-2000:])
                assert "Traceback" not in p.stderr
        run(run_lines, n, block)


# ---- the checks themselves catch what they are for -------------------------------
def test_checks_catch_a_renamed_option_and_a_misnamed_file(tmp_path):
    written = writes(words("arraycal gnss log --port /dev/ttyACM0 --role tx --out gnss"))
    assert written == {"gnss/tx.ubx"}
    ok = ("arraycal process --iq campaign1/recording.sigmf-meta --array "
          "examples/arrays/outdoor_2el.yaml --tx-gnss gnss/tx.ubx --rx-position 1,2,3 --out c")
    written |= writes(words("arraycal rx --serial 1 --record --out campaign1   # hardware"))
    assert check_line(ok, "after", REPO, written) == []
    assert check_line(ok.replace("--tx-gnss", "--tx-gps"), "after", REPO, written)
    assert check_line(ok.replace("--tx-gnss", "--tx-gn"), "after", REPO, written)
    assert check_line(ok.replace("gnss/tx.ubx", "gnss/gnss-tx.ubx"), "after", REPO, written)
    assert check_line(ok.replace("outdoor_2el", "outdoor"), "after", REPO, written)
    assert check_line("./bootstrap tests   # setup", "setup", REPO, set())
    assert check_line("sudo cp /usr/local/share/gr-arraycal/deploy/nothere.service /etc",
                      "setup", REPO, set())
    assert marker("arraycal tx --serial 3   # hardware: USRP B210") == "hardware"
    assert marker("kill %1   # the transmitter never ends by itself") is None
    assert commands("for i in 0 1; do") == ["for", "do"]
    assert commands("  arraycal node --index $i & done; wait") == ["arraycal", "done", "wait"]
    assert commands("sudo rm -rf / && cd x") == ["sudo", "cd"]


@pytest.mark.timeout(120)
def test_a_failing_block_fails(tmp_path):
    rc, out = run_script("arraycal rx --sourc zmq:tcp://127.0.0.1:5552 --out o", tmp_path,
                         doc_env(tmp_path), timeout=60)
    assert rc == 2 and "unrecognized arguments: --sourc" in out   # no abbreviations
    rc, out = run_script("true\nfalse\necho not reached", tmp_path, doc_env(tmp_path), 60)
    assert rc == 1 and "not reached" not in out
