"""`pertitle cache info` and `pertitle cache prune` on the entries of a real analysis."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.test_analyze import check_usage_error, invoke, json_of

if TYPE_CHECKING:
    from tests.conftest import Clips

SMALL_GRID = ["--heights", "180", "--crfs", "26,38", "--preset", "veryfast", "--no-calibrate", "-q"]


def _analyze(clips: Clips, cache: Path) -> dict[str, Any]:
    return json_of(invoke("analyze", str(clips.small), *SMALL_GRID, "--json", "--cache-dir", str(cache)))


def test_info_counts_an_analysis_and_prune_all_makes_the_next_run_measure_again(
    clips: Clips, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = _analyze(clips, cache)
    assert first["timings"]["encodes"] == 2
    info = json_of(invoke("cache", "info", "--cache-dir", str(cache), "--json"))
    assert info["schema"] == "pertitle.cache/v1"
    assert info["entries"] == 2  # the two probe points
    assert info["size_bytes"] == sum(p.stat().st_size for p in cache.glob("??/*.json"))

    # Nothing was unused for a day: a prune by age keeps both, and the rerun is all hits.
    kept = json_of(invoke("cache", "prune", "--older-than", "1", "--cache-dir", str(cache), "--json"))
    assert (kept["removed"], kept["kept"]) == (0, 2)
    assert _analyze(clips, cache)["timings"]["encodes"] == 0

    gone = json_of(invoke("cache", "prune", "--all", "--cache-dir", str(cache), "--json"))
    assert (gone["removed"], gone["kept"], gone["freed_bytes"]) == (2, 0, info["size_bytes"])
    assert _analyze(clips, cache)["timings"]["encodes"] == 2


def test_prune_by_age_drops_what_no_run_read_since(clips: Clips, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _analyze(clips, cache)
    entries = sorted(cache.glob("??/*.json"))
    month_ago = os.stat(entries[0]).st_mtime - 31 * 86400
    os.utime(entries[0], (month_ago, month_ago))
    run = invoke("cache", "prune", "--cache-dir", str(cache))  # default: unused for 30 days
    assert run.exit_code == 0, run.stderr
    assert run.stdout.startswith("removed 1 files")
    assert sorted(cache.glob("??/*.json")) == entries[1:]
    assert _analyze(clips, cache)["timings"]["encodes"] == 1  # only the pruned point again


def test_bad_prune_values_are_usage_errors(tmp_path: Path) -> None:
    check_usage_error(
        invoke("cache", "prune", "--older-than", "-1", "--cache-dir", str(tmp_path)), "--older-than"
    )
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x", encoding="utf-8")
    check_usage_error(invoke("cache", "info", "--cache-dir", str(not_a_dir)), "is a file")
    check_usage_error(invoke("cache", "prune", "--all", "--cache-dir", str(not_a_dir)), "is a file")
    # --all would drop what --older-than keeps: a scripted prune given both must not empty the cache.
    both = invoke("cache", "prune", "--all", "--older-than", "5", "--cache-dir", str(tmp_path))
    check_usage_error(both, "--all")
    assert not_a_dir.read_text(encoding="utf-8") == "x"


def test_info_of_a_cache_not_made_yet(tmp_path: Path) -> None:
    run = invoke("cache", "info", "--cache-dir", str(tmp_path / "none"))
    assert run.exit_code == 0, run.stderr
    assert "not created yet" in run.stdout and "entries   0" in run.stdout
    doc = json.loads(invoke("cache", "info", "--cache-dir", str(tmp_path / "none"), "--json").stdout)
    assert (doc["entries"], doc["oldest_use"]) == (0, None)


def test_info_names_the_cache_directory_as_it_is(tmp_path: Path) -> None:
    """The directory is text: brackets are no Rich markup and `:100:` no emoji code."""
    cache = tmp_path / "ca[bold]che:100:"
    run = invoke("cache", "info", "--cache-dir", str(cache))
    assert run.exit_code == 0, run.stderr
    assert run.stdout.splitlines()[0] == f"cache     {cache} (not created yet)"


def test_info_of_entries_from_a_clock_ahead_reads_no_negative_age(clips: Clips, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _analyze(clips, cache)
    for entry in cache.glob("??/*.json"):
        ahead = entry.stat().st_mtime + 30 * 86400  # written by a machine whose clock runs ahead
        os.utime(entry, (ahead, ahead))
    run = invoke("cache", "info", "--cache-dir", str(cache))
    assert run.exit_code == 0, run.stderr
    assert "last used 0.0 to 0.0 days ago" in run.stdout


def test_an_unreadable_cache_is_named_and_a_partial_prune_reports_what_it_did(
    clips: Clips, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    _analyze(clips, cache)
    entries = sorted(cache.glob("??/*.json"))
    real_iterdir, real_unlink = Path.iterdir, Path.unlink

    def iterdir(self: Path) -> Iterator[Path]:
        if self == cache:
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    with monkeypatch.context() as m:
        m.setattr(Path, "iterdir", iterdir)
        for args in (["info"], ["info", "--json"], ["prune", "--all"]):
            run = invoke("cache", *args, "--cache-dir", str(cache))
            assert run.exit_code == 2, (args, run.stdout, run.stderr)
            assert run.stderr.strip() == f"error: cannot read the cache {cache}: Permission denied"
            assert run.stdout == ""

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == entries[0]:
            raise PermissionError(13, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    run = invoke("cache", "prune", "--all", "--cache-dir", str(cache), "--json")
    assert run.exit_code == 2, run.stderr
    doc = json.loads(run.stdout)  # what was done is still said, on stdout as a document
    assert (doc["removed"], doc["failed"]) == (len(entries) - 1, 1)
    assert run.stderr.strip() == (
        f"error: could not remove 1 of {len(entries)} files from {cache} ({entries[0]}: Permission denied)"
    )
    assert [e for e in entries if e.exists()] == entries[:1]
