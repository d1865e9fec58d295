import os

import pytest

from fedbench.atomic import write_atomic


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_file_has_the_mode_a_plain_open_gives(tmp_path, umask_022):
    # mkstemp creates 0o600; a result, cache or export must be as readable as any file
    # the user writes: 0o666 less the umask 0o022 = 0o644.
    path = write_atomic(tmp_path / "sub" / "f.bin", lambda f: f.write(b"abc"))
    assert path.read_bytes() == b"abc"
    assert path.stat().st_mode & 0o777 == 0o644
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert plain.stat().st_mode & 0o777 == path.stat().st_mode & 0o777


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = write_atomic(tmp_path / "f.txt", lambda f: f.write("old"), mode="w")

    def crash(handle):
        handle.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, crash, mode="w")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]
