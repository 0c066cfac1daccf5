#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Durable file writes: results are written atomically, logs appended and flushed.

Files get the mode an ordinary open() would give them (0666 less the umask,
0644 typically), not mkstemp's private 0600: a calibration is shared data.
"""

import errno
import json
import os
import shutil
import tempfile


def _umask():
    """The process's umask, read without changing it (other threads may be creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)   # elsewhere it can only be read by setting it: set it straight back
    os.umask(mask)
    return mask


def _sync_dir(directory):
    """Make renames and links in ``directory`` durable."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _write_temp(directory, data):
    """A fsynced temporary file in ``directory`` holding ``data``, mode 0666 & ~umask."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write_bytes(path, data):
    """Write to a temporary file beside ``path``, fsync, rename: all or nothing."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = _write_temp(directory, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _sync_dir(directory)


def create_exclusive_bytes(path, data):
    """Write ``data`` to ``path`` atomically, only if ``path`` does not exist yet.

    Raises FileExistsError otherwise: hard-linking the finished temporary file
    to its name is atomic and never replaces, so concurrent writers each get
    their own name and a reader never sees a half-written file.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = _write_temp(directory, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        # a file system without hard links: still exclusive, written in place
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    finally:
        _unlink_quietly(tmp)
    _sync_dir(directory)


def create_exclusive_json(path, obj):
    create_exclusive_bytes(path, (json.dumps(obj, indent=2) + "\n").encode("utf-8"))


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


class OutputStaging:
    """Outputs of one run written beside their directory and swapped in at the end.

    Files are written into ``path`` (DIR/.arraycal-staging-XXXX, same file
    system as DIR); ``commit()`` renames each into DIR, so an interrupted or
    failed run leaves the previous outputs of DIR exactly as they were and
    only the staging directory, which ``discard()`` (or leaving the ``with``
    block by an exception) removes. A destination that is one of the run's
    ``inputs`` (the user's DIR/array.yaml, say) is never replaced: it keeps
    the user's file and is reported by ``commit()`` as kept.
    """

    PREFIX = ".arraycal-staging-"

    def __init__(self, out_dir, inputs=()):
        self.out_dir = os.fspath(out_dir)
        self._created = not os.path.isdir(self.out_dir)
        os.makedirs(self.out_dir, exist_ok=True)
        self._remove_abandoned()
        self.path = tempfile.mkdtemp(prefix=f"{self.PREFIX}{os.getpid()}-", dir=self.out_dir)
        os.chmod(self.path, 0o777 & ~_umask())
        self.inputs = [os.path.abspath(os.fspath(p)) for p in inputs if p]
        self.kept = []

    def file(self, name):
        """Where to write output ``name`` during the run."""
        return os.path.join(self.path, name)

    def _is_input(self, dest):
        for p in self.inputs:
            try:
                if os.path.samefile(p, dest):
                    return True
            except OSError:
                if os.path.abspath(dest) == p:
                    return True
        return False

    def commit(self, previous=()):
        """Swap the staged files in; ``previous``: names whose old version is kept as NAME.previous.

        Returns the names that were not swapped in because they are inputs.
        """
        for name in sorted(os.listdir(self.path)):
            src, dest = os.path.join(self.path, name), os.path.join(self.out_dir, name)
            if os.path.lexists(dest) and self._is_input(dest):
                self.kept.append(name)
                continue
            if name in previous and os.path.lexists(dest):
                os.replace(dest, dest + ".previous")
            os.replace(src, dest)
        _sync_dir(self.out_dir)
        self._created = False
        self.discard()
        return self.kept

    def discard(self):
        """Remove the staging directory (and DIR if this run made it and it stayed empty)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._created:
            try:
                os.rmdir(self.out_dir)
            except OSError:
                pass

    def _remove_abandoned(self):
        """Staging directories of runs that were killed (their process is gone)."""
        for name in os.listdir(self.out_dir):
            if not name.startswith(self.PREFIX):
                continue
            pid = name[len(self.PREFIX):].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(os.path.join(self.out_dir, name), ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.discard()   # after commit() there is nothing left; after an error, the partial run


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True      # exists, belongs to someone else
    return True


class AppendLog:
    """A line log that is appended to, flushed and fsynced per line: nothing recorded is lost."""

    def __init__(self, path, header=None, fsync=True):
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)) or ".", exist_ok=True)
        new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        self._f = open(self.path, "a", encoding="utf-8")
        self._fsync = fsync
        if new and header:
            self.write(header)

    def write(self, line):
        self._f.write(line.rstrip("\n") + "\n")
        self._f.flush()
        if self._fsync:
            os.fsync(self._f.fileno())

    def close(self):
        if not self._f.closed:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
