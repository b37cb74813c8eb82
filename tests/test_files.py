"""files.write_atomic: the one writer, on every kind of target it can meet."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from acp_cli.files import write_atomic
from acp_cli.settings import file as config_file

DATA = b'{"version":1,"files":[]}\n'


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """An empty folder of the test's own (tmp_path also holds the test's home)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def names(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def test_a_regular_file_is_replaced_with_the_data_and_mode_0600(work: Path) -> None:
    target = work / "plan.json"
    target.write_bytes(b"old content that is longer than the new")
    target.chmod(0o644)
    inode_before = target.stat().st_ino

    write_atomic(target, DATA)

    assert target.read_bytes() == DATA
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_ino != inode_before  # renamed over, not rewritten in place
    assert names(work) == ["plan.json"]


def test_a_new_file_is_created_with_the_requested_mode(work: Path) -> None:
    target = work / "new.json"

    write_atomic(target, DATA, mode=0o644)

    assert target.read_bytes() == DATA
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert names(work) == ["new.json"]


@pytest.mark.parametrize("relative", [True, False], ids=["relative-link", "absolute-link"])
def test_a_symlink_is_written_through_at_its_target_in_another_folder(
    work: Path, relative: bool
) -> None:
    dotfiles = work / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "acp.toml"
    real.write_bytes(b"old")
    links = work / "links"
    links.mkdir()
    link = links / "config.toml"
    link.symlink_to(Path("../dotfiles/acp.toml") if relative else real)
    link_text = os.readlink(link)

    write_atomic(link, DATA)

    assert link.is_symlink()
    assert os.readlink(link) == link_text
    assert real.read_bytes() == DATA
    assert names(links) == ["config.toml"]  # no temporary file left beside the link
    assert names(dotfiles) == ["acp.toml"]


def test_a_chain_of_symlinks_is_followed_to_the_last_target(work: Path) -> None:
    real = work / "real"
    real.write_bytes(b"old")
    (work / "middle").symlink_to("real")
    (work / "first").symlink_to("middle")

    write_atomic(work / "first", DATA)

    assert (work / "first").is_symlink()
    assert (work / "middle").is_symlink()
    assert real.read_bytes() == DATA


def test_a_dangling_symlink_creates_its_target_as_cp_does(work: Path) -> None:
    (work / "store").mkdir()
    link = work / "out.json"
    link.symlink_to("store/missing.json")

    write_atomic(link, DATA)

    assert link.is_symlink()
    assert (work / "store" / "missing.json").read_bytes() == DATA


def read_through_fifo(
    fifo: Path, target: Path, data: bytes | tuple[bytes | memoryview, ...] = DATA
) -> list[bytes]:
    """Make ``fifo``, `write_atomic` ``data`` to ``target`` (the fifo, or a link to it)
    and return what a reader of the fifo received: one read, if the writer closed it."""
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read_all() -> None:
        with open(fifo, "rb") as reader:
            received.append(reader.read())

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    write_atomic(target, data)
    reader.join(timeout=10)
    assert not reader.is_alive()
    return received


def test_a_fifo_is_written_in_place_and_never_renamed_over(work: Path) -> None:
    fifo = work / "pipe"

    assert read_through_fifo(fifo, fifo) == [DATA]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert names(work) == ["pipe"]


# DATA in parts: a view into a larger buffer, an empty part.
PARTS = (b'{"version":1,', memoryview(b'..."files":[]}\n..')[3:-2], b"")


def test_parts_are_written_one_after_the_other_into_a_file(work: Path) -> None:
    target = work / "cache.json"
    target.write_bytes(b"old content that is longer than the new")

    write_atomic(target, PARTS, durable=False)

    assert target.read_bytes() == DATA
    assert names(work) == ["cache.json"]


def test_parts_are_written_one_after_the_other_into_a_fifo(work: Path) -> None:
    assert read_through_fifo(work / "pipe", work / "pipe", PARTS) == [DATA]


def test_a_symlink_to_a_fifo_writes_into_the_fifo(work: Path) -> None:
    fifo = work / "pipe"
    (work / "link").symlink_to("pipe")

    assert read_through_fifo(fifo, work / "link") == [DATA]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert (work / "link").is_symlink()


def test_a_folder_as_target_fails_and_is_left_as_it_was(work: Path) -> None:
    folder = work / "folder"
    folder.mkdir()
    (folder / "inside").write_bytes(b"kept")

    with pytest.raises(IsADirectoryError):
        write_atomic(folder, DATA)

    assert names(folder) == ["inside"]
    assert names(work) == ["folder"]


def test_a_target_under_a_file_fails_without_creating_anything(work: Path) -> None:
    blocker = work / "not-a-folder"
    blocker.write_bytes(b"kept")

    with pytest.raises(NotADirectoryError):
        write_atomic(blocker / "plan.json", DATA)

    assert blocker.read_bytes() == b"kept"
    assert names(work) == ["not-a-folder"]


def test_a_failed_write_leaves_the_target_untouched_and_no_temporary_file(
    work: Path,
) -> None:
    """A real failure midway: the process may write only 1000 bytes (RLIMIT_FSIZE),
    so writing the temporary file fails with EFBIG after it was created."""
    target = work / "plan.json"
    target.write_bytes(b"the old plan")
    code = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from acp_cli.files import write_atomic\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "try:\n"
        "    write_atomic(Path(sys.argv[1]), b'x' * 5000)\n"
        "except OSError as exc:\n"
        "    print(exc.errno)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert done.stdout.strip() == "27"  # EFBIG
    assert target.read_bytes() == b"the old plan"
    assert names(work) == ["plan.json"]


def test_the_config_writer_keeps_a_symlinked_config_toml_a_link(
    work: Path, isolated_env: Path
) -> None:
    """Issue 11 item 12: `ln -s ~/dotfiles/acp.toml $ACP_CONFIG_DIR/config.toml`
    then `acp config set timeout 11` must update the dotfile."""
    dotfile = work / "dotfiles" / "acp.toml"
    dotfile.parent.mkdir()
    dotfile.write_text("# my settings\n[profiles.default]\ntimeout = 30\n", encoding="utf-8")
    isolated_env.mkdir(mode=0o700)
    link = config_file.config_path(isolated_env)
    link.symlink_to(dotfile)

    config_file.set_profile_value(link, "default", "timeout", 11)
    config_file.write_private(link, dotfile.read_text(encoding="utf-8") + "# more\n")

    assert link.is_symlink()
    assert dotfile.read_text(encoding="utf-8") == (
        "# my settings\n[profiles.default]\ntimeout = 11\n# more\n"
    )
    assert config_file.load(link)["profiles"]["default"]["timeout"] == 11
    assert names(dotfile.parent) == ["acp.toml"]


def test_the_device_id_is_stored_through_a_symlinked_config_toml(
    work: Path, isolated_env: Path
) -> None:
    dotfile = work / "acp.toml"
    dotfile.write_text("", encoding="utf-8")
    isolated_env.mkdir(mode=0o700)
    link = config_file.config_path(isolated_env)
    link.symlink_to(dotfile)

    created = config_file.device_id(isolated_env, {})

    assert link.is_symlink()
    assert config_file.load(dotfile)["device_id"] == created


def test_a_write_that_need_not_be_durable_is_still_atomic(work: Path) -> None:
    target = work / "cache.json"
    target.write_bytes(b"old")

    write_atomic(target, DATA, durable=False)

    assert target.read_bytes() == DATA
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert names(work) == ["cache.json"]
