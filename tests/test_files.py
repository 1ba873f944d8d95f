"""Files appear whole or not at all, and an existing file is never replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from if_cli.errors import OutputError
from if_cli.output.files import ensure_writable_dir, publish


def test_publish_writes_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    publish(target, lambda handle: handle.write(b"hello"))
    assert target.read_bytes() == b"hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_publish_refuses_to_replace_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        publish(target, lambda handle: handle.write(b"new"))
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_a_failing_writer_leaves_nothing_behind(tmp_path: Path) -> None:
    def explode(_handle: object) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="No space left"):
        publish(tmp_path / "a.bin", explode)
    assert list(tmp_path.iterdir()) == []


def test_output_dir_is_created_when_missing_and_the_new_folders_are_named(
    tmp_path: Path,
) -> None:
    created = ensure_writable_dir(tmp_path / "new" / "deep")
    assert created == [tmp_path / "new", tmp_path / "new" / "deep"]
    assert created[-1].is_dir() and ensure_writable_dir(tmp_path / "new" / "deep") == []


def test_output_dir_that_is_a_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        ensure_writable_dir(tmp_path / "file")
    with pytest.raises(OutputError, match="cannot write"):
        ensure_writable_dir(tmp_path / "file" / "sub")


def test_temp_files_of_dead_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from if_cli.output.files import remove_orphans

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(gone.stdout)
    orphan = tmp_path / f".a.png.{dead_pid}.x1y2.part"
    live = tmp_path / f".b.png.{os.getpid()}.z3w4.part"
    finished = tmp_path / "c.png"
    for path in (orphan, live, finished):
        path.write_bytes(b"data")
    assert remove_orphans(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, finished.name])
