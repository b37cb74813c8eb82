"""What a plan says about each file, its canonical form, and the errors (SPEC section 8)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import rfc8785

from acp_cli.errors import ExitCode, UsageError
from acp_cli.signature import sign_plan_bytes
from acp_cli.workspace import BuiltPlan, SkippedPath, build_plan
from acp_cli.workspace.cache import KEY_SIZE
from tests.support.built_plans import by_path, sha
from tests.support.cli_runner import run_acp
from tests.support.git_oracle import git, plan_entries, plan_paths, write_tree
from tests.support.hash_cache import read_cache, sealed_cache

pytestmark = pytest.mark.usefixtures("isolated_git")


def schema() -> dict[str, Any]:
    text = resources.files("acp_cli").joinpath("schemas/push-plan-v1.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_contents_sizes_and_modes_match_the_files(work: Path) -> None:
    contents = {
        "README.md": b"# hello\n",
        "empty": b"",
        "bin/run": b"#!/bin/sh\necho run\n",
        "with space.txt": b"spaces",
        "#hash": b"hash",
        "caf\u00e9/\u65e5\u672c.txt": "unicode \u2603".encode(),
        "big.bin": os.urandom(3 * 1024 * 1024 + 7),  # several read blocks
    }
    write_tree(work, contents)
    (work / "bin" / "run").chmod(0o755)
    (work / "group-exec").write_bytes(b"x")
    (work / "group-exec").chmod(0o654)  # only the owner's execute bit counts, as in git

    built = build_plan(work)

    entries = by_path(built)
    for name, data in contents.items():
        assert entries[name]["size"] == len(data), name
        assert entries[name]["sha256"] == sha(data), name
    assert entries["bin/run"]["mode"] == "100755"
    assert entries["README.md"]["mode"] == "100644"
    assert entries["group-exec"]["mode"] == "100644"
    assert entries["empty"]["sha256"] == sha(b"")
    assert built.files == len(entries) == len(contents) + 1
    assert built.total_bytes == sum(len(data) for data in contents.values()) + 1
    jsonschema.validate(orjson.loads(built.data), schema())


def test_symlinks_are_listed_with_their_link_text_and_never_followed(work: Path) -> None:
    write_tree(work, {"docs/v2/index.md": "v2", "target.txt": "content"})
    (work / "docs" / "latest").symlink_to("v2")  # to a folder: not descended into
    (work / "to-file").symlink_to("target.txt")
    (work / "broken").symlink_to("nowhere/at/all")
    (work / "absolute").symlink_to("/etc/passwd")

    entries = by_path(build_plan(work))

    assert set(entries) == {
        "docs/v2/index.md",
        "target.txt",
        "docs/latest",
        "to-file",
        "broken",
        "absolute",
    }
    for name, text in [
        ("docs/latest", "v2"),
        ("to-file", "target.txt"),
        ("broken", "nowhere/at/all"),
        ("absolute", "/etc/passwd"),
    ]:
        assert entries[name] == {
            "path": name,
            "size": len(text),
            "sha256": sha(text.encode()),
            "mode": "120000",
            "target": text,
        }
    assert "target" not in entries["target.txt"]


def test_entries_are_sorted_by_the_utf8_bytes_of_their_paths(work: Path) -> None:
    names = ["b", "B", "a/b", "a-b", "a.b", "\u00e9", "\U0001f600", "\uff5e", "z/\u00e9", "_"]
    write_tree(work, dict.fromkeys(names, "x"))

    paths = [str(entry["path"]) for entry in plan_entries(build_plan(work))]

    assert paths == sorted(names, key=lambda name: name.encode("utf-8"))


def test_the_output_is_rfc8785_and_its_sha256_is_the_plan_signature(work: Path) -> None:
    write_tree(
        work,
        {
            'quote"back\\slash': "x",
            "tab\tnew\nline": "y",
            "\u007f\u0080\u2028\U0001f600": "z",
            "ctrl\u0001": "c",
        },
    )
    (work / "link").symlink_to('"odd\\target\u2028')

    built = build_plan(work)

    assert not built.data.endswith(b"\n")
    assert rfc8785.dumps(orjson.loads(built.data)) == built.data
    assert built.signature == "sha256:" + sha(built.data)
    assert built.signature == sign_plan_bytes(built.data, "x")
    jsonschema.validate(orjson.loads(built.data), schema())


def test_the_same_tree_gives_the_same_bytes_across_runs_and_touch(work: Path) -> None:
    write_tree(work, {"a": "1", "b/c": "2", "b/d": "3"})
    first = build_plan(work)
    os.utime(work / "b" / "c")  # touch: new mtime, same content
    second = build_plan(work)
    third = build_plan(work, cache=False)

    assert first.data == second.data == third.data
    assert first.signature == second.signature == third.signature


def test_a_copy_elsewhere_gives_the_same_plan(work: Path, tmp_path: Path) -> None:
    write_tree(work, {"a": "1", "b/c": "2"})
    (work / "l").symlink_to("b/c")
    copy = tmp_path / "elsewhere"
    shutil.copytree(work, copy, symlinks=True)

    assert build_plan(work).signature == build_plan(copy).signature


def test_an_empty_folder_gives_an_empty_plan(work: Path) -> None:
    (work / "empty-folder").mkdir()

    built = build_plan(work)

    assert built.data == b'{"files":[],"version":1}'
    assert built.files == 0


def test_many_files_are_hashed_in_worker_processes_like_a_few(work: Path) -> None:
    """Enough files to start the pool, with one big file; the results are hashlib's."""
    contents = {f"d{i % 7}/f{i}.txt": f"file {i}\n" * (i % 50) for i in range(600)}
    contents["large.bin"] = "L" * (20 * 1024 * 1024)
    write_tree(work, contents)

    entries = by_path(build_plan(work, cache=False))

    assert {name: entries[name]["sha256"] for name in contents} == {
        name: sha(text.encode()) for name, text in contents.items()
    }


def test_progress_reports_the_work_and_every_file_hashed(work: Path) -> None:
    write_tree(work, {f"f{i}": "x" * i for i in range(100)})
    for i in range(100):
        os.utime(work / f"f{i}", ns=(1_600_000_000_000_000_000,) * 2)  # not racy

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, int, int]] = []

        def start(self, files: int) -> None:
            self.calls.append(("start", files, 0))

        def advance(self, files: int, hashed_bytes: int) -> None:
            self.calls.append(("advance", files, hashed_bytes))

        def pending(self, hashed_bytes: int) -> None:
            """Bytes of big files under way: not what this test counts."""

    first, second = Recorder(), Recorder()
    build_plan(work, progress=first)
    build_plan(work, progress=second)  # the cache has every file now

    total = sum(range(100))
    for recorder, hashed_bytes in ((first, total), (second, 0)):
        assert recorder.calls[0] == ("start", 100, 0)
        assert {name for name, _, _ in recorder.calls[1:]} == {"advance"}
        assert sum(files for _, files, _ in recorder.calls[1:]) == 100
        assert sum(nbytes for _, _, nbytes in recorder.calls[1:]) == hashed_bytes


# --- the cache -------------------------------------------------------------


def test_a_rewrite_with_the_same_size_and_mtime_still_gets_its_new_hash(work: Path) -> None:
    target = work / "data.bin"
    target.write_bytes(b"AAAA")
    old = 1_600_000_000_123_456_789
    os.utime(target, ns=(old, old))  # long before the cache is written: not racy
    first = build_plan(work)
    assert first.hashed_files == 1
    assert build_plan(work).hashed_files == 0  # the cache is used

    target.write_bytes(b"BBBB")  # same size
    os.utime(target, ns=(old, old))  # the same mtime; only the ctime moved

    built = build_plan(work)

    assert by_path(built)["data.bin"]["sha256"] == sha(b"BBBB")
    assert built.hashed_files == 1


def test_a_file_changed_just_after_it_was_cached_is_hashed_again(work: Path) -> None:
    """Racy git: within 2 s of the cache's write, even the ctime may not have moved."""
    target = work / "fresh.txt"
    target.write_bytes(b"one")
    build_plan(work)

    assert build_plan(work).hashed_files == 1  # its mtime is within 2 s of the cache


def test_a_corrupt_or_foreign_cache_gives_the_same_output(work: Path, tmp_path: Path) -> None:
    write_tree(work, {"a": "1", "b": "2"})
    old = 1_600_000_000_000_000_000
    for name in ("a", "b"):
        os.utime(work / name, ns=(old, old))
    expected = build_plan(work, cache=False).data
    build_plan(work)
    [cache_file] = (tmp_path / "home" / "cache" / "plans").iterdir()
    header, files = read_cache(cache_file)
    assert set(files["files"]) == {"a", "b"}
    assert header["names"] == 2

    cache = sealed_cache
    lying = {**files, "files": {name: key[:-64] + "0" * 64 for name, key in files["files"].items()}}
    sealed = cache(header, files)
    line, body = sealed.split(b"\n", 1)
    variants = [
        b"",
        b"\x00garbage{",
        b"[]\n[]",
        cache({**header, "root": "00"}, lying),  # another folder's cache
        cache({**header, "format": 99}, lying),
        cache({**header, "written_ns": "late"}, lying),
        cache({**header, "folders": []}, lying),
        cache({**header, "index": "x"}, lying),
        cache(header, {**files, "files": {"a": b"\xff" * KEY_SIZE, "b": bytes(KEY_SIZE)}}),
        cache(header, {**files, "files": {"a": b"short"}}),  # keys of the wrong length
        cache({**header, "folders": {"": "not a list"}}, files),
        sealed[:-40],  # cut short
        sealed + b"x",  # longer than its sections
        line + b"\n" + body.replace(b"a\0b", b"a\0c"),  # the body's checksum fails
    ]
    # Sealed, but sections that do not hold one item per name
    for field, value in (("names", 3), ("sections", [1, 1, 1, 1]), ("sections", [0] * 5)):
        text = orjson.dumps({**orjson.loads(line.partition(b" ")[2]), field: value})
        variants.append(sha(text).encode() + b" " + text + b"\n" + body)
    for variant in variants:
        cache_file.write_bytes(variant)
        assert build_plan(work).data == expected, variant
        assert read_cache(cache_file)[1] == files, variant


def test_no_cache_neither_reads_nor_writes_and_equals_the_cached_output(
    work: Path, tmp_path: Path
) -> None:
    write_tree(work, {"a": "1", "sub/b": "2"})
    cache_folder = tmp_path / "home" / "cache"

    uncached = build_plan(work, cache=False)
    assert not cache_folder.exists()
    cached = build_plan(work)
    assert uncached.data == cached.data
    assert build_plan(work, cache=False).hashed_files == 2


def test_the_cache_lives_where_acp_cache_dir_says(work: Path, tmp_path: Path) -> None:
    write_tree(work, {"a": "1"})
    elsewhere = tmp_path / "elsewhere"

    build_plan(work, env={**os.environ, "ACP_CACHE_DIR": str(elsewhere)})

    assert len(list((elsewhere / "plans").iterdir())) == 1


# --- what is skipped, and the errors ---------------------------------------


def test_a_fifo_and_a_socket_are_skipped_with_a_warning_and_never_opened(work: Path) -> None:
    write_tree(work, {"a": "1", "sub/b": "2"})
    os.mkfifo(work / "sub" / "pipe")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(work / "sock"))
    outcome: list[BuiltPlan] = []
    runner = threading.Thread(target=lambda: outcome.append(build_plan(work)), daemon=True)
    try:
        runner.start()
        runner.join(timeout=60)
        assert not runner.is_alive(), "build_plan hung on a FIFO"
    finally:
        listener.close()

    [built] = outcome
    assert plan_paths(built) == {"a", "sub/b"}
    assert built.skipped == (SkippedPath("sock", "a socket"), SkippedPath("sub/pipe", "a FIFO"))
    assert str(built.skipped[1]) == "sub/pipe: skipped, a FIFO"


def test_a_tracked_file_replaced_by_a_fifo_is_skipped_with_a_warning(work: Path) -> None:
    write_tree(work, {"a": "1", "b": "2"})
    git(work, "init", "--quiet")
    git(work, "add", ".")
    (work / "b").unlink()
    os.mkfifo(work / "b")

    built = build_plan(work)

    assert plan_paths(built) == {"a"}
    assert built.skipped == (SkippedPath("b", "a FIFO"),)


def test_submodules_and_nested_repositories_are_skipped_with_a_warning(
    work: Path, tmp_path: Path
) -> None:
    library = tmp_path / "library"
    write_tree(library, {"lib.py": "x"})
    git(library, "init", "--quiet")
    git(library, "add", ".")
    git(library, "commit", "--quiet", "-m", "lib")
    write_tree(work, {"main.py": "y", "nested/own.py": "z"})
    git(work / "nested", "init", "--quiet")
    git(work, "init", "--quiet")
    git(work, "submodule", "--quiet", "add", str(library), "vendor/lib")

    built = build_plan(work)

    assert plan_paths(built) == {"main.py", ".gitmodules"}
    assert built.skipped == (
        SkippedPath("nested", "a nested git repository"),
        SkippedPath("vendor/lib", "a submodule"),
    )


def test_a_nested_repository_outside_git_is_skipped_with_a_warning(work: Path) -> None:
    write_tree(work, {"main.py": "y", "nested/own.py": "z"})
    git(work / "nested", "init", "--quiet")

    built = build_plan(work)

    assert plan_paths(built) == {"main.py"}
    assert built.skipped == (SkippedPath("nested", "a nested git repository"),)


@pytest.mark.parametrize("where", ["file", "folder", "link"])
def test_a_name_that_is_not_utf8_is_an_error_naming_it(work: Path, where: str) -> None:
    raw = os.fsencode(work)
    (work / "fine.txt").write_text("ok", encoding="utf-8")
    if where == "file":
        with open(raw + b"/bad-\xff.txt", "wb") as handle:
            handle.write(b"x")
    elif where == "folder":
        os.mkdir(raw + b"/dir-\xfe")
        with open(raw + b"/dir-\xfe/inner", "wb") as handle:
            handle.write(b"x")
    else:
        os.symlink(b"target-\xff", raw + b"/link")

    with pytest.raises(UsageError) as caught:
        build_plan(work)

    assert caught.value.exit_code == ExitCode.USAGE
    expected = {"file": "bad-\\xff.txt", "folder": "dir-\\xfe/inner", "link": "link"}[where]
    assert expected in caught.value.message
    assert "UTF-8" in caught.value.message


def test_a_name_that_is_not_utf8_in_an_ignored_folder_is_never_an_error(work: Path) -> None:
    write_tree(work, {".gitignore": "ignored/\n", "a": "1"})
    os.mkdir(os.fsencode(work) + b"/ignored")
    with open(os.fsencode(work) + b"/ignored/bad-\xff", "wb") as handle:
        handle.write(b"x")

    assert plan_paths(build_plan(work)) == {".gitignore", "a"}


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_dir_must_be_a_folder(work: Path, kind: str) -> None:
    target = work / "plan-me"
    if kind == "file":
        target.write_text("x", encoding="utf-8")

    with pytest.raises(UsageError, match="plan-me"):
        build_plan(target)


def test_a_file_that_keeps_changing_is_an_error_naming_it(work: Path) -> None:
    """A writer rewrites the file's first byte over and over while acp reads it:
    every read sees its mtime move, so acp gives up after the re-reads. The file is
    large (sparse: quick to make) so that each read lasts long enough for the
    writer to be scheduled at least once even on a loaded machine."""
    write_tree(work, {"calm.txt": "still"})
    busy = work / "busy.db"
    with open(busy, "wb") as handle:
        handle.truncate(256 << 20)
    code = (
        "import os, sys\n"
        "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    os.pwrite(fd, b'y', 0)\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(busy)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
        with pytest.raises(UsageError, match=r"busy\.db.*kept changing"):
            build_plan(work, cache=False)
    finally:
        writer.kill()
        writer.wait()


def test_without_git_the_error_says_to_install_it(work: Path) -> None:
    write_tree(work, {"a": "1"})

    with pytest.raises(UsageError, match="git is not installed") as caught:
        build_plan(work, env={**os.environ, "PATH": str(work / "no-bin")})

    assert caught.value.hint is not None
    assert "Install git" in caught.value.hint


def test_special_files_are_remembered_per_folder_until_the_folder_changes(work: Path) -> None:
    write_tree(work, {"a": "1", "sub/b": "2"})
    os.mkfifo(work / "sub" / "pipe")
    old = 1_600_000_000_000_000_000
    for path in (work, work / "sub", work / "a", work / "sub" / "b"):
        os.utime(path, ns=(old, old), follow_symlinks=False)
    fifo_warning = (SkippedPath("sub/pipe", "a FIFO"),)

    assert build_plan(work).skipped == fifo_warning
    assert build_plan(work).skipped == fifo_warning  # from the cache's folder memory

    (work / "sub" / "pipe").unlink()
    os.utime(work / "sub", ns=(old, old))  # the mtime as it was; the ctime moved
    assert build_plan(work).skipped == ()


def test_an_acpignore_added_after_a_cached_run_applies(work: Path) -> None:
    write_tree(work, {"a": "1", "sub/b": "2", "sub/c": "3"})
    old = 1_600_000_000_000_000_000
    for path in (work, work / "sub"):
        os.utime(path, ns=(old, old))
    assert plan_paths(build_plan(work)) == {"a", "sub/b", "sub/c"}

    (work / "sub" / ".acpignore").write_text("c\n", encoding="utf-8")

    assert plan_paths(build_plan(work)) == {"a", "sub/b", "sub/.acpignore"}


def test_an_error_found_in_a_worker_process_is_raised_naming_the_path(work: Path) -> None:
    write_tree(work, {f"d{i % 9}/f{i}": "x" for i in range(1500)})  # enough for workers
    with open(os.fsencode(work) + b"/d5/bad-\xff", "wb") as handle:
        handle.write(b"x")

    with pytest.raises(UsageError, match=r"d5/bad-\\xff"):
        build_plan(work)


def test_a_change_in_one_chunk_keeps_the_cache_of_the_others(work: Path, tmp_path: Path) -> None:
    """Enough files for several chunks in worker processes; one file changes."""
    contents = {f"d{i % 9}/f{i:04d}": f"{i}" for i in range(1500)}
    write_tree(work, contents)
    old = 1_600_000_000_000_000_000
    for name in contents:
        os.utime(work / name, ns=(old, old))
    assert build_plan(work).hashed_files == 1500

    (work / "d3" / "f0003").write_text("changed", encoding="utf-8")
    os.utime(work / "d3" / "f0003", ns=(old, old))
    changed = build_plan(work)
    again = build_plan(work)

    assert (changed.hashed_files, changed.cached_files) == (1, 1499)
    assert (again.hashed_files, again.cached_files) == (0, 1500)
    assert again.data == changed.data == build_plan(work, cache=False).data
    [cache_file] = (tmp_path / "home" / "cache" / "plans").iterdir()
    assert len(read_cache(cache_file)[1]["files"]) == 1500


# --- the worker processes ---------------------------------------------------------------


def _many_files(work: Path, count: int = 700) -> dict[str, str]:
    """More files than one chunk: describing them starts worker processes."""
    contents = {f"d{i % 7}/f{i}.txt": f"file {i}\n" * (i % 40) for i in range(count)}
    write_tree(work, contents)
    return contents


def _plan_data(folder: str) -> bytes:
    return build_plan(folder, cache=False).data


@pytest.mark.parametrize("small_files", [700, 3])
def test_inside_a_daemonic_process_the_files_are_hashed_in_that_process(
    work: Path, small_files: int
) -> None:
    """A multiprocessing.Pool worker may not start processes of its own: neither for
    many files nor for a few big ones."""
    import multiprocessing

    contents = _many_files(work, small_files)
    big = {"big-a.bin": "A" * (20 << 20), "big-b.bin": "b" * (17 << 20)}  # tasks of their own
    write_tree(work, big)
    contents.update(big)

    with multiprocessing.get_context("fork").Pool(1) as pool:
        data = pool.apply(_plan_data, (str(work),))

    assert data == build_plan(work, cache=False).data
    assert {entry["path"]: entry["sha256"] for entry in orjson.loads(data)["files"]} == {
        name: sha(text.encode()) for name, text in contents.items()
    }


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare"
)
def test_without_a_writable_dev_shm_the_plan_is_the_same(work: Path) -> None:
    """In a mount namespace with a read-only /dev/shm, where semaphores (and so
    ProcessPoolExecutor) fail with EROFS."""
    _many_files(work)
    write_tree(work, {"big.bin": "B" * (20 << 20)})
    script = (
        "import multiprocessing, sys\n"
        "try:\n"
        "    multiprocessing.get_context('fork').Lock()\n"
        "except OSError as exc:\n"
        "    print('no semaphores:', exc, file=sys.stderr)\n"
        "else:\n"
        "    sys.exit('/dev/shm is writable')\n"
        "from acp_cli.workspace import build_plan\n"
        "sys.stdout.buffer.write(build_plan(sys.argv[1], cache=False).data)\n"
    )
    done = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            'mount -t tmpfs -o ro tmpfs /dev/shm && exec "$@"',
            "sh",
            sys.executable,
            "-c",
            script,
            str(work),
        ],
        capture_output=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0 and b"mount" in done.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Read-only file system" in done.stderr
    assert done.stdout == build_plan(work, cache=False).data


def test_the_workers_run_with_the_spawn_start_method(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """spawn, the default on macOS and Windows: each worker is a new interpreter,
    which gets the context pickled."""
    from acp_cli.workspace import describe

    contents = _many_files(work)
    contents["big-a.bin"] = "A" * (20 << 20)
    contents["big-b.bin"] = "b" * (17 << 20)
    write_tree(work, {name: contents[name] for name in ("big-a.bin", "big-b.bin")})
    old = 1_600_000_000_000_000_000
    for name in contents:
        os.utime(work / name, ns=(old, old))  # not racy: the cache may hold them
    forked = build_plan(work)  # and fills the cache, which the spawned workers load
    started: list[str] = []
    real_start = describe._Pool.start.__func__  # type: ignore[attr-defined]

    def start(cls: Any, context: Any, count: int) -> Any:
        pool = real_start(cls, context, count)
        started.extend(type(process).__name__ for process, _ in pool.workers)
        return pool

    monkeypatch.setattr(describe, "START_METHOD", "spawn")
    monkeypatch.setattr(describe._Pool, "start", classmethod(start))
    os.utime(work / "big-b.bin", ns=(old + 1, old + 1))  # hashed again: a task of its own

    spawned = build_plan(work)

    assert started == ["SpawnProcess"] * len(started)
    assert started
    assert spawned.data == forked.data
    assert (spawned.hashed_files, spawned.cached_files) == (1, len(contents) - 1)
    assert by_path(spawned)["big-b.bin"]["sha256"] == sha(contents["big-b.bin"].encode())


def _children_like_me() -> list[int]:
    """The processes this one forked: the same command line, this process as parent."""
    me = Path("/proc/self/cmdline").read_bytes()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == os.getpid() and (entry / "cmdline").read_bytes() == me:
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_a_worker_killed_is_a_clear_error_naming_the_signal(work: Path) -> None:
    """As the out-of-memory killer does: exit 2 naming the signal and the likely
    cause, not "a bug in acp"."""
    _many_files(work)
    with open(work / "huge.bin", "wb") as huge:
        huge.truncate(16 << 30)  # sparse, read at memory speed: half a minute to hash
    killed: list[int] = []

    def kill_the_workers() -> None:  # the idle one too: its death matters only at work
        for _ in range(600):
            workers = _children_like_me()
            if len(workers) >= 2:
                time.sleep(0.3)
                for pid in workers:
                    os.kill(pid, signal.SIGKILL)
                killed.extend(workers)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_workers)
    killer.start()
    try:
        run = run_acp("push", "plan", str(work), "--no-cache")
    finally:
        killer.join()

    assert killed
    assert run.code == ExitCode.USAGE, run.stderr
    assert "was killed by SIGKILL, most likely by the system's out-of-memory killer" in (
        " ".join(run.stderr.split())
    )
    assert "bug in acp" not in run.stderr
    assert run.stdout == ""
    assert _children_like_me() == []


def test_an_error_is_raised_at_once_while_a_big_file_is_hashed(work: Path) -> None:
    """The bad name sorts last, so its chunk is described while a worker already
    hashes a huge file found in the first chunk: the error does not wait for it."""
    _many_files(work, 2000)
    with open(work / "a-huge.bin", "wb") as huge:
        huge.truncate(32 << 30)  # sparse, read at memory speed: a minute to hash
    with open(os.fsencode(work) + b"/zz-\xff", "wb") as handle:
        handle.write(b"x")

    started = time.monotonic()
    with pytest.raises(UsageError, match=r"zz-\\xff"):
        build_plan(work, cache=False)

    assert time.monotonic() - started < 20  # not the minute the huge file takes
    assert _children_like_me() == []


@pytest.mark.parametrize("big_files", [1, 2, 3])
def test_a_few_files_with_big_ones_are_hashed_and_reported_once(work: Path, big_files: int) -> None:
    """Too few files for chunks in workers: two big ones or more are hashed side by side
    in workers all the same; the progress counts each file and byte once."""
    contents = {f"small-{i}.txt": f"{i}\n" * i for i in range(5)}
    contents.update({f"big-{i}.bin": chr(65 + i) * ((16 + i) << 20) for i in range(big_files)})
    write_tree(work, contents)

    class Recorder:
        def __init__(self) -> None:
            self.files = self.hashed = 0
            self.still_pending: list[int] = []

        def start(self, files: int) -> None:
            assert files == len(contents)

        def advance(self, files: int, hashed_bytes: int) -> None:
            self.files += files
            self.hashed += hashed_bytes

        def pending(self, hashed_bytes: int) -> None:
            self.still_pending.append(hashed_bytes)

    recorder = Recorder()
    built = build_plan(work, cache=False, progress=recorder)

    assert {name: entry["sha256"] for name, entry in by_path(built).items()} == {
        name: sha(text.encode()) for name, text in contents.items()
    }
    assert (recorder.files, recorder.hashed) == (len(contents), built.total_bytes)
    assert built.hashed_files == len(contents)
    big_bytes = sum(len(text) for name, text in contents.items() if name.startswith("big-"))
    if big_files > 1:  # hashed in workers: the bar weighs what is left of them
        assert recorder.still_pending[0] == big_bytes
        assert recorder.still_pending == sorted(recorder.still_pending, reverse=True)
        assert recorder.still_pending[-1] == 0
