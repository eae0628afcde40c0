"""walk() reads only regular files and names everything else it leaves out (real FIFOs, sockets, links)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from ragkit.ingest.walk import NotRegularFile, open_regular, sha256_of, walk


def _tree(root):
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# A\n\ntext\n")
    (root / "sub" / "b.py").write_text("x = 1\n")
    os.mkfifo(root / "pipe")
    (root / "link.md").symlink_to(root / "a.md")
    (root / "linkdir").symlink_to(root / "sub", target_is_directory=True)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    return sock


def test_special_files_and_symlinks_are_named_not_opened(tmp_path):
    root = tmp_path / "repo"
    sock = _tree(root)
    try:
        skipped: dict[str, str] = {}
        started = time.monotonic()
        files = [p.relative_to(root).as_posix() for p in walk(root, skipped=skipped)]
        assert time.monotonic() - started < 5  # a FIFO that were opened would block forever
    finally:
        sock.close()
    assert files == ["a.md", "sub/b.py"]
    why = {os.path.relpath(k, root): v for k, v in skipped.items()}
    assert why["pipe"] == "not a regular file: a FIFO (named pipe)"
    assert why["sock"] == "not a regular file: a socket"
    assert why["link.md"].startswith("symlink: not followed")
    assert why["linkdir"].startswith("symlink to a directory: not followed")


def test_a_fifo_given_as_the_root_is_reported(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    skipped: dict[str, str] = {}
    assert list(walk(tmp_path / "pipe", skipped=skipped)) == []
    assert skipped == {str(tmp_path / "pipe"): "not a regular file: a FIFO (named pipe)"}


def test_a_device_is_reported(tmp_path):
    skipped: dict[str, str] = {}
    assert list(walk("/dev/null", skipped=skipped)) == []
    assert skipped == {"/dev/null": "not a regular file: a device"}


def test_open_regular_refuses_a_fifo_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(NotRegularFile, match="FIFO"):
        open_regular(tmp_path / "pipe")
    with pytest.raises(NotRegularFile):
        sha256_of(tmp_path / "pipe")
    (tmp_path / "f.txt").write_bytes(b"abc")
    assert sha256_of(tmp_path / "f.txt") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
