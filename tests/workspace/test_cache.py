"""The hash cache can only make a run faster (issue 15, item 4): a cache file whose
content was changed, or that another user could have written, is ignored and
replaced; the cache folder is bounded, the least recently used caches going first."""

from __future__ import annotations

import itertools
import os
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from acp_cli.files import forget_oldest
from acp_cli.workspace import build_plan
from acp_cli.workspace import cache as hash_cache
from tests.support.built_plans import sha
from tests.support.git_oracle import git, plan_paths, write_tree
from tests.support.hash_cache import read_cache, sealed_cache
from tests.support.paths import REPO

pytestmark = pytest.mark.usefixtures("isolated_git")

OLD_NS = 1_600_000_000_000_000_000
OTHER_UID = 54321
FORGED = sha(b"not the content")


def make_old(root: Path) -> None:
    """Give every file and folder under ``root`` (and ``root``) an mtime long past, so
    that the cache trusts what it recorded about them (no racy-git re-read)."""
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), ns=(OLD_NS, OLD_NS))
        os.utime(folder, ns=(OLD_NS, OLD_NS))


def cached_workspace(work: Path, files: int) -> tuple[bytes, Path]:
    """``files`` files in ``work``, planned once: the true plan and the cache file."""
    write_tree(work, {f"d{index % 7}/f{index:04}": f"content {index}\n" for index in range(files)})
    make_old(work)
    expected = build_plan(work, cache=False).data
    first = build_plan(work)
    assert first.data == expected
    return expected, hash_cache.cache_file(work.resolve(), os.environ)


def forge(cache_file: Path, *, seal: bool) -> bytes:
    """Rewrite the hash of ``d0/f0000`` in the cache file to FORGED; with ``seal`` the
    checksums are made to match, as a program that knows the format would."""
    header, files = read_cache(cache_file)
    entry = files["files"]["d0/f0000"]
    files["files"]["d0/f0000"] = entry[:-64] + FORGED
    if seal:
        data = sealed_cache(header, files)
    else:
        data = cache_file.read_bytes().replace(bytes.fromhex(entry[-64:]), bytes.fromhex(FORGED))
    cache_file.write_bytes(data)
    return data


def forged_is_used(work: Path) -> bool:
    built = build_plan(work)
    return FORGED.encode() in built.data


@pytest.mark.parametrize("files", [3, 900])  # described in this process, and in workers
def test_a_hash_edited_on_disk_is_not_used_and_the_cache_is_rewritten(
    work: Path, files: int
) -> None:
    expected, cache_file = cached_workspace(work, files)
    _, original = read_cache(cache_file)

    forge(cache_file, seal=False)

    built = build_plan(work)
    assert built.data == expected
    assert built.hashed_files == files  # nothing of the file was trusted
    assert read_cache(cache_file)[1] == original  # rewritten with the true hashes
    assert build_plan(work).hashed_files == 0


@pytest.mark.parametrize("files", [3, 900])
def test_a_sealed_forgery_in_a_private_cache_is_what_the_checks_stand_between(
    work: Path, files: int
) -> None:
    """The control of the tests below: a cache that passes every check is trusted,
    so what makes them give the true plan is the one check each varies."""
    _, cache_file = cached_workspace(work, files)
    forge(cache_file, seal=True)
    assert forged_is_used(work)


def test_an_edited_header_is_not_used(work: Path) -> None:
    """The header remembers which folders hold an .acpignore: a header edited to
    forget one would let the file it leaves out into the plan."""
    write_tree(work, {".acpignore": "secret.env\n", "secret.env": "TOKEN=1\n", "a": "1"})
    make_old(work)
    expected = build_plan(work).data
    cache_file = hash_cache.cache_file(work.resolve(), os.environ)
    header, _ = read_cache(cache_file)
    assert header["folders"][""][2] is True
    line, body = cache_file.read_bytes().split(b"\n", 1)
    cache_file.write_bytes(line.replace(b",true,", b",false,", 1) + b"\n" + body)

    built = build_plan(work)

    assert built.data == expected
    assert "secret.env" not in plan_paths(built)
    assert read_cache(cache_file)[0]["folders"][""][2] is True  # rewritten


def _chown_file(cache_file: Path) -> None:
    os.chown(cache_file, OTHER_UID, -1)


def _chown_folder(cache_file: Path) -> None:
    os.chown(cache_file.parent, OTHER_UID, -1)


@pytest.mark.parametrize(
    ("untrusted", "file_replaced"),
    [
        (_chown_file, True),
        (lambda path: path.chmod(0o620), True),  # group may write it
        (lambda path: path.chmod(0o602), True),  # others may write it
        (_chown_folder, False),
        (lambda path: path.parent.chmod(0o770), False),
        (lambda path: path.parent.chmod(0o1777), False),  # even sticky, as /tmp
    ],
    ids=[
        "file-of-another-user",
        "file-group-writable",
        "file-world-writable",
        "folder-of-another-user",
        "folder-group-writable",
        "folder-world-writable",
    ],
)
@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user takes root")
def test_a_cache_another_user_could_have_written_is_not_used(
    work: Path, untrusted: Any, file_replaced: bool
) -> None:
    expected, cache_file = cached_workspace(work, 3)
    forge(cache_file, seal=True)
    untrusted(cache_file)

    assert build_plan(work).data == expected

    if file_replaced:  # a new file of the user's own, private, with the true hashes
        info = cache_file.stat()
        assert (info.st_uid, info.st_mode & 0o777) == (os.geteuid(), 0o600)
        assert not forged_is_used(work)


def test_the_cache_folder_keeps_the_most_recently_used_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = [tmp_path / f"job{index}" for index in range(5)]
    caches = []
    for index, folder in enumerate(folders[:4]):
        write_tree(folder, {"a": f"{index}"})
        make_old(folder)
        build_plan(folder)
        caches.append(hash_cache.cache_file(folder.resolve(), os.environ))
        os.utime(caches[-1], ns=(OLD_NS + index, OLD_NS + index))  # job0 used first
    plans = caches[0].parent
    monkeypatch.setattr(hash_cache, "MAX_FILES", 3)
    used = caches[0].read_bytes()

    assert build_plan(folders[0]).hashed_files == 0  # used, not rewritten: marked used
    assert caches[0].read_bytes() == used
    assert len(list(plans.iterdir())) == 4  # a cache that is only read evicts nothing
    write_tree(folders[4], {"a": "4"})
    build_plan(folders[4])

    caches.append(hash_cache.cache_file(folders[4].resolve(), os.environ))
    assert set(plans.iterdir()) == {caches[4], caches[0], caches[3]}
    assert build_plan(folders[3]).hashed_files == 0  # a kept cache is still whole


def test_the_cache_folder_is_bounded_in_bytes_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hash_cache, "MAX_BYTES", 1)  # smaller than any cache
    for index in range(3):
        folder = tmp_path / f"job{index}"
        write_tree(folder, {"a": f"{index}"})
        build_plan(folder)
        kept = hash_cache.cache_file(folder.resolve(), os.environ)
        # the one just written is kept whatever its size
        assert list(kept.parent.iterdir()) == [kept]


def test_the_bound_is_documented() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    assert f"{hash_cache.MAX_FILES} workspaces" in readme
    assert f"{hash_cache.MAX_BYTES >> 20} MiB" in readme


@pytest.mark.parametrize("name", ["a b", "x: y", 'q"uote'])
def test_a_cache_whose_names_hold_spaces_and_quotes_is_used(work: Path, name: str) -> None:
    # The header's first space ends the checksum; the JSON after it may hold more.
    write_tree(work, {f"{name}/f": "1", f"{name}/g h": "2", "top": "3"})
    make_old(work)
    expected = build_plan(work).data
    cache_file = hash_cache.cache_file(work.resolve(), os.environ)
    written = cache_file.read_bytes()

    again = build_plan(work)

    assert again.data == expected
    assert again.hashed_files == 0
    assert cache_file.read_bytes() == written  # used, not rewritten


def test_marking_a_cache_used_that_another_run_removed_is_no_error(tmp_path: Path) -> None:
    kept = hash_cache.HashCache(tmp_path / "plans" / "gone.json", tmp_path)
    kept.mark_used()
    assert not kept.path.exists()


def test_the_cache_folder_is_made_private(work: Path) -> None:
    write_tree(work, {"a": "1"})
    build_plan(work)
    cache_file = hash_cache.cache_file(work.resolve(), os.environ)
    assert cache_file.parent.stat().st_mode & 0o777 == 0o700
    assert cache_file.stat().st_mode & 0o777 == 0o600


def test_the_cache_is_written_without_a_flush_to_disk(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cache cut short by a crash fails its checksum; the flush would cost a third
    # of a re-plan's extra time.
    write_tree(work, {"a": "1"})
    flushed: list[int] = []
    monkeypatch.setattr(os, "fsync", flushed.append)
    build_plan(work)
    assert hash_cache.cache_file(work.resolve(), os.environ).is_file()
    assert flushed == []


def evict_beside(cache_file: Path) -> None:
    """Bound the cache folder as writing ``cache_file`` does (``HashCache.save``)."""
    forget_oldest(
        cache_file.parent,
        keep_files=hash_cache.MAX_FILES,
        keep_bytes=hash_cache.MAX_BYTES,
        spare=cache_file,
    )


def _caches_of(tmp_path: Path, count: int) -> list[Path]:
    """Plan ``count`` folders, the first used least recently; their cache files."""
    caches = []
    for index in range(count):
        folder = tmp_path / f"job{index}"
        write_tree(folder, {"a": "x" * (10 * index)})
        build_plan(folder)
        caches.append(hash_cache.cache_file(folder.resolve(), os.environ))
        os.utime(caches[-1], ns=(OLD_NS + index, OLD_NS + index))
    return caches


def test_the_byte_bound_keeps_caches_up_to_exactly_max_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caches = _caches_of(tmp_path, 3)
    sizes = [cache.stat().st_size for cache in caches]
    monkeypatch.setattr(hash_cache, "MAX_BYTES", sizes[1] + sizes[2])

    evict_beside(caches[2])

    assert sorted(caches[0].parent.iterdir()) == sorted(caches[1:])


def test_the_cache_folder_bound_never_follows_nor_removes_a_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caches = _caches_of(tmp_path, 2)
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    link = caches[0].parent / "link.json"
    link.symlink_to(outside)
    os.utime(link, ns=(OLD_NS - 1, OLD_NS - 1), follow_symlinks=False)  # the oldest
    monkeypatch.setattr(hash_cache, "MAX_FILES", 2)

    evict_beside(caches[1])

    assert set(caches[0].parent.iterdir()) == {link, *caches}
    assert outside.read_text() == "{}"


def test_a_cache_another_run_evicts_meanwhile_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caches = _caches_of(tmp_path, 3)
    scandir = os.scandir

    class RacingScandir:
        """The folder's entries, one of them removed once listed, before its stat."""

        def __init__(self, path: Any) -> None:
            with scandir(path) as entries:
                self.entries = list(entries)
            caches[0].unlink()

        def __enter__(self) -> Any:
            return iter(self.entries)

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(os, "scandir", RacingScandir)
    monkeypatch.setattr(hash_cache, "MAX_FILES", 1)

    evict_beside(caches[2])

    assert list(caches[2].parent.iterdir()) == [caches[2]]


def test_a_cache_another_run_removes_first_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caches = _caches_of(tmp_path, 3)
    unlink = os.unlink

    def racing_unlink(path: Any) -> None:
        unlink(path)  # another run, a moment before
        unlink(path)

    monkeypatch.setattr(os, "unlink", racing_unlink)
    monkeypatch.setattr(hash_cache, "MAX_FILES", 1)

    evict_beside(caches[2])

    assert list(caches[2].parent.iterdir()) == [caches[2]]


Edit = Callable[[list[bytes], dict[str, Any]], None]


def _names_one_more(sections: list[bytes], header: dict[str, Any]) -> None:
    header["names"] += 1


def _key_cut(sections: list[bytes], header: dict[str, Any]) -> None:
    sections[3] = sections[3][:-1]


def _length_cut(sections: list[bytes], header: dict[str, Any]) -> None:
    sections[2] = sections[2][:-8]


def _length_not_whole(sections: list[bytes], header: dict[str, Any]) -> None:
    sections[2] = sections[2][:-1]


def _length_negative(sections: list[bytes], header: dict[str, Any]) -> None:
    lengths = array("q", sections[2])
    lengths[0], lengths[1] = -1, lengths[0] + lengths[1] + 1
    sections[2] = lengths.tobytes()


def _entry_longer(sections: list[bytes], header: dict[str, Any]) -> None:
    sections[1] += b"x"


def _verified_cut(sections: list[bytes], header: dict[str, Any]) -> None:
    sections[4] = sections[4][:-1]


def _name_more(sections: list[bytes], header: dict[str, Any]) -> None:
    sections[0] += b"\0extra"


def _four_sections(sections: list[bytes], header: dict[str, Any]) -> None:
    sections[3:5] = [sections[3] + sections[4]]


def _index_short(sections: list[bytes], header: dict[str, Any]) -> None:
    header["index"] = [1, 2, 3]


def _index_negative(sections: list[bytes], header: dict[str, Any]) -> None:
    header["index"] = [1, 2, 3, -4]


def _written_not_int(sections: list[bytes], header: dict[str, Any]) -> None:
    header["written_ns"] = float(header["written_ns"])


def _folders_not_mapping(sections: list[bytes], header: dict[str, Any]) -> None:
    header["folders"] = list(header["folders"].items())


def _other_format(sections: list[bytes], header: dict[str, Any]) -> None:
    header["format"] = hash_cache.FORMAT - 1


def resealed(cache_file: Path, edit: Edit) -> None:
    """Rewrite the cache file's sections or header with ``edit``, then its lengths
    and checksums as acp writes them, as a program that knows the format would."""
    line, body = cache_file.read_bytes().split(b"\n", 1)
    header = orjson.loads(line.partition(b" ")[2])
    ends = list(itertools.accumulate(header["sections"]))
    sections = [body[start:end] for start, end in zip([0, *ends], ends, strict=False)]
    edit(sections, header)
    data = b"".join(sections)
    header |= {"body": sha(data), "sections": [len(section) for section in sections]}
    text = orjson.dumps(header)
    cache_file.write_bytes(sha(text).encode() + b" " + text + b"\n" + data)


@pytest.mark.parametrize(
    "edit",
    [
        _names_one_more,
        _key_cut,
        _length_cut,
        _length_not_whole,
        _length_negative,
        _entry_longer,
        _verified_cut,
        _name_more,
        _four_sections,
        _index_short,
        _index_negative,
        _written_not_int,
        _folders_not_mapping,
        _other_format,
    ],
)
def test_a_sealed_cache_whose_sections_do_not_agree_is_not_used(work: Path, edit: Edit) -> None:
    expected, cache_file = cached_workspace(work, 3)
    resealed(cache_file, lambda sections, header: None)
    assert build_plan(work).hashed_files == 0  # the control: resealed as it was, used
    resealed(cache_file, edit)

    built = build_plan(work)

    assert built.data == expected
    assert built.hashed_files == 3
    assert build_plan(work).hashed_files == 0  # rewritten whole


def test_the_cache_of_another_folder_is_not_used_even_for_the_same_files(
    tmp_path: Path,
) -> None:
    # The folder moved (its files keep their inodes and times) and its old cache was
    # copied to where the new path's cache goes: the cache names the folder it is for.
    before = tmp_path / "before"
    expected, cache_file = cached_workspace(before, 3)
    forge(cache_file, seal=True)
    after = tmp_path / "after"
    before.rename(after)
    moved = hash_cache.cache_file(after.resolve(), os.environ)
    moved.write_bytes(cache_file.read_bytes())

    built = build_plan(after)

    assert built.data == expected
    assert FORGED.encode() not in built.data


@pytest.mark.parametrize("planned", [["a"], []])  # none: the entries section is empty
def test_a_cache_holding_names_the_plan_leaves_out_is_used(work: Path, planned: list[str]) -> None:
    # A tracked file deleted from the work tree and a submodule are named by git's
    # listing but planned by nobody: their entries in the cache are empty (length 0).
    write_tree(work, {"gone": "2", "sub/f": "3", **dict.fromkeys(planned, "1")})
    git(work, "init", "--quiet")
    git(work, "-C", "sub", "init", "--quiet")
    git(work, "-C", "sub", "add", "f")
    git(work, "-C", "sub", "commit", "--quiet", "-m", "sub")
    git(work, "add", *planned, "gone", "sub")
    (work / "gone").unlink()
    make_old(work)
    expected = build_plan(work)
    cache_file = hash_cache.cache_file(work.resolve(), os.environ)
    header, sections = read_cache(cache_file)
    assert sorted(sections["verified"]) == [*planned, "gone", "sub"]
    assert sorted(sections["entries"]) == planned  # none for the others
    assert (header["sections"][1] == 0) == (not planned)
    written = cache_file.read_bytes()

    again = build_plan(work)

    assert (again.data, again.skipped) == (expected.data, expected.skipped)
    assert again.hashed_files == 0
    assert cache_file.read_bytes() == written  # used, not rewritten


@pytest.mark.parametrize("newline", [True, False])
def test_the_cache_of_a_workspace_with_no_name_is_used(work: Path, newline: bool) -> None:
    # git lists nothing: a cache of no names, whose folders part still spares the
    # next run reading the folders. Its sections are empty: the header is all of it,
    # whole even when a write cut short loses the newline after it.
    (work / "empty").mkdir(parents=True)
    make_old(work)
    first = build_plan(work)
    cache_file = hash_cache.cache_file(work.resolve(), os.environ)
    header, _ = read_cache(cache_file)
    assert (first.folders_read, header["names"]) == (1, 0)
    if not newline:
        cache_file.write_bytes(cache_file.read_bytes().removesuffix(b"\n"))

    again = build_plan(work)

    assert again.data == first.data
    assert again.folders_read == 0
