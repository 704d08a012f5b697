"""The result cache: keys, atomic entries, faults as misses. No ffmpeg is run here: the analysis
keys are built by a probes Runner over a fake ffmpeg path (its encoder version is pinned)."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pertitle import probes
from pertitle.cache import (
    CACHE_SCHEMA,
    STALE_TEMP_S,
    ResultCache,
    atomic_write_all,
    atomic_write_bytes,
    atomic_write_text,
    fingerprint_file,
    make_key,
    prune,
    summarize,
)
from pertitle.config import Settings
from pertitle.ffmpeg.binary import FfmpegInfo
from pertitle.models import EncodeSpec, MediaInfo, SampleWindow

# --- make_key / fingerprint_file ----------------------------------------------------------------


def test_make_key_is_a_stable_sha256_of_the_parts_in_any_order() -> None:
    a = make_key({"source": "abc", "spec": {"crf": 30, "height": 360}})
    b = make_key({"spec": {"height": 360, "crf": 30}, "source": "abc"})
    assert a == b
    assert len(a) == 64 and set(a) <= set("0123456789abcdef")
    blob = json.dumps(
        {"cache_schema": CACHE_SCHEMA, "source": "abc", "spec": {"crf": 30, "height": 360}},
        sort_keys=True,
        separators=(",", ":"),
    )
    import hashlib

    assert a == hashlib.sha256(blob.encode()).hexdigest()


@pytest.mark.parametrize(
    "change",
    [
        {"source": "abd"},
        {"spec": {"crf": 31, "height": 360}},
        {"spec": {"crf": 30, "height": 360, "scaler": "lanczos"}},
        {"extra": None},
    ],
)
def test_make_key_changes_with_any_part(change: dict[str, Any]) -> None:
    base = {"source": "abc", "spec": {"crf": 30, "height": 360}}
    assert make_key({**base, **change}) != make_key(base)


def test_fingerprint_follows_content_not_name(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.mp4", tmp_path / "renamed copy.mp4", tmp_path / "c.mp4"
    a.write_bytes(b"\x00\x01video" * 1000)
    b.write_bytes(a.read_bytes())
    c.write_bytes(a.read_bytes()[:-1] + b"X")
    assert fingerprint_file(str(a)) == fingerprint_file(str(b))
    assert fingerprint_file(str(a)) != fingerprint_file(str(c))
    assert fingerprint_file(str(a), chunk=7) == fingerprint_file(str(a))  # chunking is invisible


# --- the keys an analysis uses ------------------------------------------------------------------

SPEC = EncodeSpec("h264", "veryfast", 640, 360, "crf", crf=30.0)
DEPLOYED = EncodeSpec(
    "h264", "veryfast", 640, 360, "abr2pass", bitrate_kbps=800.0, maxrate_kbps=1200.0, bufsize_kbps=1600.0
)
FFMPEG = FfmpegInfo(
    path="/nonexistent/ffmpeg",
    version="n9.0.2",
    encoders=frozenset({"libx264"}),
    has_libvmaf=True,
    vmaf_models=("vmaf_v0.6.1",),
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    p = tmp_path / "title.mp4"
    p.write_bytes(b"pretend video bytes" * 100)
    return p


@pytest.fixture(autouse=True)
def encoder_version(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    versions = {"libx264": "164 r3108"}
    monkeypatch.setattr(probes, "encoder_version", lambda path, enc: versions.get(enc, "unknown"))
    yield versions


def info_for(path: Path, **change: Any) -> MediaInfo:
    base = MediaInfo(
        path=str(path),
        width=640,
        height=360,
        display_aspect=1.777778,
        fps=24.0,
        duration_s=2.0,
        frame_count=48,
        pix_fmt="yuv420p",
        bit_depth=8,
        rotation_deg=0,
        codec="h264",
        size_bytes=path.stat().st_size,
    )
    return dataclasses.replace(base, **change)


def analysis_key(
    source: Path,
    spec: EncodeSpec = SPEC,
    *,
    info: MediaInfo | None = None,
    windows: tuple[SampleWindow, ...] | None = None,
    settings: Settings | None = None,
    ffmpeg: FfmpegInfo = FFMPEG,
    tweak: dict[str, Any] | None = None,
) -> str:
    """The cache key a Runner gives `spec` (full pass unless windows are given)."""
    info = info or info_for(source)
    full = windows is None
    wins = windows or (SampleWindow(0, 0.0, info.duration_s),)
    settings = settings or Settings(jobs=2)
    cache = ResultCache(None, enabled=False)
    runner = probes.Runner(info, wins, full, settings, ffmpeg, cache, lambda e: None)
    try:
        for name, value in (tweak or {}).items():
            setattr(runner, name, value)
        return runner.key(spec)
    finally:
        runner.close()


@pytest.mark.parametrize(
    "change",
    [
        {"codec": "hevc"},
        {"preset": "medium"},
        {"width": 642},
        {"height": 362},
        {"crf": 30.5},
        {"gop_s": 4.0},
        {"scaler": "lanczos"},
        {"rate_control": "abr2pass", "crf": None, "bitrate_kbps": 800.0},
    ],
)
def test_key_changes_with_every_field_of_the_encode(source: Path, change: dict[str, Any]) -> None:
    assert analysis_key(source, dataclasses.replace(SPEC, **change)) != analysis_key(source)


@pytest.mark.parametrize("field", ["bitrate_kbps", "maxrate_kbps", "bufsize_kbps"])
def test_key_changes_with_every_rate_of_a_deployed_encode(source: Path, field: str) -> None:
    other = dataclasses.replace(DEPLOYED, **{field: getattr(DEPLOYED, field) + 1})
    assert analysis_key(source, other) != analysis_key(source, DEPLOYED)


def test_key_changes_with_the_source_content(source: Path, tmp_path: Path) -> None:
    edited = tmp_path / "edited.mp4"
    edited.write_bytes(source.read_bytes() + b"!")
    assert analysis_key(edited) != analysis_key(source)


def test_key_changes_with_the_windows(source: Path) -> None:
    info = info_for(source, duration_s=100.0)
    whole = analysis_key(source, info=info)
    sampled = analysis_key(source, info=info, windows=(SampleWindow(0, 14.667, 4.0),))
    moved = analysis_key(source, info=info, windows=(SampleWindow(0, 15.0, 4.0),))
    longer = analysis_key(source, info=info, windows=(SampleWindow(0, 14.667, 5.0),))
    assert len({whole, sampled, moved, longer}) == 4


def test_key_changes_with_the_reference_size(source: Path) -> None:
    assert analysis_key(source, info=info_for(source, width=1280, height=720)) != analysis_key(source)


def test_key_changes_with_the_ffmpeg_version(source: Path) -> None:
    newer = dataclasses.replace(FFMPEG, version="n9.1")
    assert analysis_key(source, ffmpeg=newer) != analysis_key(source)


def test_key_changes_with_the_encoder_version(source: Path, encoder_version: dict[str, str]) -> None:
    before = analysis_key(source)
    encoder_version["libx264"] = "165 r3222"
    assert analysis_key(source) != before


def test_key_changes_with_the_vmaf_model(source: Path) -> None:
    neg = Settings(jobs=2, vmaf_model="vmaf_v0.6.1neg")
    assert analysis_key(source, settings=neg) != analysis_key(source)


def test_key_changes_with_vmaf_subsampling(source: Path) -> None:
    assert analysis_key(source, tweak={"n_subsample": 4}) != analysis_key(source)


def test_key_ignores_what_does_not_change_a_result(source: Path, tmp_path: Path) -> None:
    base = analysis_key(source)
    renamed = tmp_path / "another name.mp4"
    renamed.write_bytes(source.read_bytes())
    assert analysis_key(renamed) == base  # the path
    assert analysis_key(source, settings=Settings(jobs=7)) == base  # parallelism and threads
    assert (
        analysis_key(source, settings=Settings(jobs=2, cache_dir=str(tmp_path), encode_timeout_s=5)) == base
    )
    moved = dataclasses.replace(FFMPEG, path="/usr/local/bin/ffmpeg")
    assert analysis_key(source, ffmpeg=moved) == base  # where the same ffmpeg lives


# --- ResultCache --------------------------------------------------------------------------------

KEY = make_key({"test": 1})
OTHER = make_key({"test": 2})
VALUE = {"bitrate_kbps": 812.5, "vmaf": 93.25, "vmaf_per_frame": [93.0, 93.5]}


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_then_get_round_trips(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path / "c"))
    assert cache.get(KEY) is None
    cache.put(KEY, VALUE)
    assert cache.get(KEY) == VALUE
    assert cache.get(OTHER) is None


def test_entries_are_sharded_by_key_prefix_and_leave_no_temp_file(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = ResultCache(str(root))
    cache.put(KEY, VALUE)
    cache.put(OTHER, VALUE)
    assert files_under(root) == sorted([f"{KEY[:2]}/{KEY}.json", f"{OTHER[:2]}/{OTHER}.json"])
    on_disk = json.loads((root / KEY[:2] / f"{KEY}.json").read_text())
    assert on_disk == {"key": KEY, "value": VALUE}


def test_atomic_write_replaces_whole_and_cleans_up_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "d" / "entry.json"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert files_under(tmp_path) == ["d/entry.json"]

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(target, "third, never complete")
    assert target.read_text() == "second"  # the old entry survives whole
    assert files_under(tmp_path) == ["d/entry.json"]  # and no temp file is left behind


def test_files_written_as_one_change_together_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ladder's YAML and JSON are one document: a second file that cannot be written must not
    leave the first one new beside the old other one."""
    yaml_doc, json_doc = tmp_path / "t.ladder.yaml", tmp_path / "t.ladder.json"
    atomic_write_all([(yaml_doc, "old yaml"), (json_doc, "old json")])
    assert (yaml_doc.read_text(), json_doc.read_text()) == ("old yaml", "old json")

    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:  # the second rename fails (EPERM, an immutable file)
        if Path(dst) == json_doc:
            raise PermissionError(1, "Operation not permitted", str(dst))
        real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", replace)
        with pytest.raises(PermissionError) as failed:
            atomic_write_all([(yaml_doc, "new yaml"), (json_doc, "new json")])
    assert failed.value.filename == str(json_doc)
    assert (yaml_doc.read_text(), json_doc.read_text()) == ("old yaml", "old json")
    assert files_under(tmp_path) == ["t.ladder.json", "t.ladder.yaml"]  # no temp file left

    # Where there were none, a failed pair leaves none: a directory in the second one's place.
    fresh = tmp_path / "fresh"
    (fresh / "t.ladder.json").mkdir(parents=True)
    with pytest.raises(OSError):
        atomic_write_all([(fresh / "t.ladder.yaml", "y"), (fresh / "t.ladder.json", "j")])
    assert files_under(fresh) == []

    # A full disk fails while staging, before anything is renamed.
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space"):
        atomic_write_all([(yaml_doc, "newer yaml"), (json_doc, "newer json")])
    assert (yaml_doc.read_text(), json_doc.read_text()) == ("old yaml", "old json")
    assert files_under(tmp_path) == ["t.ladder.json", "t.ladder.yaml"]


@pytest.mark.parametrize(
    "text",
    ["{not json", "", "[1, 2]", '{"key": "KEY"}', '{"key": "KEY", "value": [1]}', '{"value": {"a": 1}}'],
)
def test_a_corrupt_entry_is_a_miss_with_a_warning(tmp_path: Path, text: str) -> None:
    cache = ResultCache(str(tmp_path))
    path = tmp_path / KEY[:2] / f"{KEY}.json"
    path.parent.mkdir(parents=True)
    path.write_text(text.replace("KEY", KEY))
    with pytest.warns(UserWarning, match=r"corrupt.*recomputing"):
        assert cache.get(KEY) is None


def test_an_entry_under_the_wrong_key_is_a_miss(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    cache.put(OTHER, VALUE)
    # A file copied (or synced) to the wrong name must not answer for another key.
    src = tmp_path / OTHER[:2] / f"{OTHER}.json"
    dst = tmp_path / KEY[:2] / f"{KEY}.json"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    with pytest.warns(UserWarning, match="wrong key"):
        assert cache.get(KEY) is None
    assert cache.get(OTHER) == VALUE


def test_an_entry_that_is_not_utf8_is_a_miss_with_a_warning(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    path = tmp_path / KEY[:2] / f"{KEY}.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe")  # was a UnicodeDecodeError traceback
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.get(KEY) is None
    cache.put(KEY, VALUE)
    assert cache.get(KEY) == VALUE


def test_an_entry_that_is_a_link_is_never_read_nor_written_through(tmp_path: Path) -> None:
    # As root, an entry linked to /dev/null had the device replaced by an entry; a link to any file
    # had that file overwritten. An entry the cache did not write is a miss, and a write replaces
    # the link itself, leaving what it pointed at alone.
    root, outside = tmp_path / "cache", tmp_path / "precious.txt"
    outside.write_text("precious")
    cache = ResultCache(str(root))
    cache.put(OTHER, VALUE)
    path = root / KEY[:2] / f"{KEY}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(root / OTHER[:2] / f"{OTHER}.json")  # even a link to a real entry
    with pytest.warns(UserWarning, match="symbolic link"):
        assert cache.get(KEY) is None
    path.unlink()
    path.symlink_to(outside)
    with pytest.warns(UserWarning, match="symbolic link"):
        assert cache.get(KEY) is None
    cache.put(KEY, VALUE)
    assert outside.read_text() == "precious"
    assert not path.is_symlink() and cache.get(KEY) == VALUE
    dangling = root / "bb" / f"{'b' * 64}.json"
    dangling.parent.mkdir()
    dangling.symlink_to(tmp_path / "nowhere" / "deep" / "x.json")
    cache.put("b" * 64, VALUE)
    assert not (tmp_path / "nowhere").exists() and cache.get("b" * 64) == VALUE


def test_an_unreadable_entry_is_a_miss_with_a_warning(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    (tmp_path / KEY[:2] / f"{KEY}.json").mkdir(parents=True)  # a directory where the file should be
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.get(KEY) is None


def test_a_cache_that_cannot_be_written_warns_and_carries_on(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    cache = ResultCache(str(blocker))
    with pytest.warns(UserWarning, match="cannot write cache entry"):
        cache.put(KEY, VALUE)
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.get(KEY) is None


def test_a_disabled_cache_never_writes_and_never_reads(tmp_path: Path) -> None:
    root = tmp_path / "c"
    ResultCache(str(root)).put(KEY, VALUE)
    before = files_under(root)
    off = ResultCache(str(root), enabled=False)
    assert off.get(KEY) is None
    off.put(OTHER, VALUE)
    assert files_under(root) == before

    fresh = tmp_path / "fresh"
    ResultCache(str(fresh), enabled=False).put(KEY, VALUE)
    assert not fresh.exists()


def test_default_root_is_the_user_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ResultCache(None).root == tmp_path / "xdg" / "pertitle"


def test_fingerprint_is_kept_per_file_state_and_follows_an_edit(tmp_path: Path) -> None:
    f = tmp_path / "title.mp4"
    f.write_bytes(b"first version")
    first = fingerprint_file(str(f))
    assert fingerprint_file(str(f)) == first  # asked again: same answer (from the memo)
    st = f.stat()
    f.write_bytes(b"second version, longer")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert fingerprint_file(str(f)) != first


def test_atomic_writes_get_the_permissions_of_a_plain_write(tmp_path: Path) -> None:
    """A ladder, report or cache entry is read by other users and services (a CI artifact, a web
    server): it must get 0666 minus the umask like any written file, not mkstemp's private 0600."""
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "ladder.json", "{}")
        atomic_write_bytes(tmp_path / "report.png", b"\x89PNG")
        os.umask(0o027)
        atomic_write_text(tmp_path / "group.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "ladder.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "report.png").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "group.json").stat().st_mode & 0o777 == 0o640


def test_an_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    atomic_write_text(target, "echo one\n")
    target.chmod(0o755)  # made executable by its user
    atomic_write_text(target, "echo two\n")
    assert target.stat().st_mode & 0o777 == 0o755
    assert target.read_text() == "echo two\n"


# --- maintenance: cache_files, summarize, prune ------------------------------------------------

DAY = 86400.0
NOW = 1_700_000_000.0  # a fixed "now" in the past (Nov 2023): ages below are exact


def _entry(cache: ResultCache, n: int, days_unused: float) -> Path:
    key = make_key({"n": n})
    cache.put(key, {"n": n})
    path = cache.root / key[:2] / f"{key}.json"
    os.utime(path, (NOW - days_unused * DAY, NOW - days_unused * DAY))
    return path


def test_a_hit_marks_the_entry_used_so_age_counts_from_the_last_read(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    path = _entry(cache, 1, days_unused=40)
    assert path.stat().st_mtime == NOW - 40 * DAY
    assert cache.get(make_key({"n": 1})) == {"n": 1}
    assert path.stat().st_mtime > NOW  # read just now (the real clock is past NOW)


def test_prune_removes_only_entries_unused_for_longer_than_the_limit(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    old, recent = _entry(cache, 1, days_unused=31), _entry(cache, 2, days_unused=29)
    size = old.stat().st_size
    dry = prune(tmp_path, 30 * DAY, now_s=NOW, dry_run=True)
    assert (dry.removed, dry.freed_bytes, dry.kept, dry.dry_run) == (1, size, 1, True)
    assert old.exists()
    done = prune(tmp_path, 30 * DAY, now_s=NOW)
    assert (done.removed, done.freed_bytes, done.kept) == (1, size, 1)
    assert not old.exists() and recent.exists()
    assert not old.parent.exists() or old.parent == recent.parent  # an emptied shard goes too
    assert cache.get(make_key({"n": 2})) == {"n": 2}


def test_prune_all_empties_the_cache_and_keeps_foreign_files(tmp_path: Path) -> None:
    """Only names the cache writes are touched: a --cache-dir pointed at the wrong place loses nothing."""
    cache = ResultCache(str(tmp_path))
    entries = [_entry(cache, n, days_unused=0) for n in range(3)]
    shard = entries[0].parent
    foreign = [tmp_path / "notes.txt", shard / "mine.json", tmp_path / "zz" / ("0" * 64 + ".json")]
    wrong_shard = tmp_path / "ab" / ("cd" + "0" * 62 + ".json")  # an entry name in the wrong shard
    for f in [*foreign, wrong_shard]:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("keep me", encoding="utf-8")
    result = prune(tmp_path, None, now_s=NOW)
    assert (result.removed, result.kept) == (3, 0)
    assert not any(e.exists() for e in entries)
    assert all(f.read_text(encoding="utf-8") == "keep me" for f in [*foreign, wrong_shard])
    assert summarize(tmp_path, now_s=NOW).entries == 0


def test_prune_removes_temp_files_of_killed_writes_but_not_one_being_written(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    entry = _entry(cache, 1, days_unused=0)
    stale = entry.parent / f".{entry.name}.{'a' * 12}.tmp"
    fresh = entry.parent / f".{entry.name}.{'b' * 12}.tmp"
    for f, age_s in ((stale, STALE_TEMP_S + 60), (fresh, 60.0)):
        f.write_text("{half an entr", encoding="utf-8")
        os.utime(f, (NOW - age_s, NOW - age_s))
    assert summarize(tmp_path, now_s=NOW).stale_temp_files == 1
    result = prune(tmp_path, 30 * DAY, now_s=NOW)
    assert (result.removed, result.kept) == (1, 1)
    assert not stale.exists() and fresh.exists() and entry.exists()


def test_summarize_counts_entries_their_bytes_and_their_ages(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    paths = [_entry(cache, n, days_unused=d) for n, d in ((1, 2.0), (2, 5.0), (3, 9.0))]
    s = summarize(tmp_path, now_s=NOW)
    assert (s.entries, s.size_bytes) == (3, sum(p.stat().st_size for p in paths))
    assert (s.oldest_use_s, s.newest_use_s) == (NOW - 9 * DAY, NOW - 2 * DAY)
    missing = summarize(tmp_path / "never-made", now_s=NOW)
    assert (missing.entries, missing.size_bytes, missing.oldest_use_s) == (0, 0, None)


def test_prune_goes_on_past_a_file_it_cannot_remove_and_counts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only shard must not stop the prune half-way: what can go goes, the rest is counted."""
    cache = ResultCache(str(tmp_path))
    entries = sorted((_entry(cache, n, days_unused=0) for n in range(6)), key=lambda p: p.parent.name)
    stuck = entries[2]
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == stuck:
            raise PermissionError(13, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    result = prune(tmp_path, None, now_s=NOW)
    assert (result.removed, result.kept, result.failed) == (5, 0, 1)
    assert result.first_failure is not None and str(stuck) in result.first_failure
    assert "Permission denied" in result.first_failure
    assert [e for e in entries if e.exists()] == [stuck]
    assert sorted(p.name for p in tmp_path.iterdir()) == [stuck.parent.name]  # emptied shards went


@pytest.mark.parametrize("walk", ["summarize", "prune"])
def test_a_shard_a_concurrent_prune_removes_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, walk: str
) -> None:
    """Batches may share a cache: one's prune empties and removes a shard while another lists it."""
    cache = ResultCache(str(tmp_path))
    entries = [_entry(cache, n, days_unused=0) for n in range(4)]
    gone = entries[1].parent
    left = [e for e in entries if e.parent != gone]
    real_iterdir = Path.iterdir

    def iterdir(self: Path) -> Iterator[Path]:
        if self == gone:  # listed by _shards, removed by the other prune before it is read
            for f in real_iterdir(self):
                f.unlink()
            self.rmdir()
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    if walk == "summarize":
        assert summarize(tmp_path, now_s=NOW).entries == len(left)
    else:
        assert prune(tmp_path, None, now_s=NOW).removed == len(left)


def test_a_write_into_a_shard_a_concurrent_prune_removed_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prune removes empty shards; a writer that had just made one finds it gone when it opens its
    temp file there, and must make it again rather than lose the entry."""
    cache = ResultCache(str(tmp_path))
    real_open = os.open
    removed: list[str] = []

    def racing_open(path: Any, flags: int, mode: int = 0o777) -> int:
        parent = os.path.dirname(path)
        if not removed and os.path.isdir(parent) and not os.listdir(parent):
            os.rmdir(parent)  # the other process's prune, between mkdir and open
            removed.append(parent)
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", racing_open)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a lost entry says so with a warning
        cache.put(KEY, VALUE)
    assert removed and cache.get(KEY) == VALUE


def test_a_long_file_name_the_filesystem_takes_is_written(tmp_path: Path) -> None:
    """NAME_MAX is 255 bytes: the temp file beside a 250-byte name had 268, and the write failed
    with 'File name too long' where the name itself was fine."""
    long_name = tmp_path / ("r" * 245 + ".html")
    atomic_write_text(long_name, "page")
    assert long_name.read_text() == "page"
    wide = tmp_path / ("é" * 120 + ".png")  # 245 bytes of UTF-8: cut on a character's boundary
    atomic_write_all([(wide, b"\x89PNG")])
    assert wide.read_bytes() == b"\x89PNG"
    assert files_under(tmp_path) == sorted([long_name.name, wide.name])
