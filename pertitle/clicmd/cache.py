"""`pertitle cache info` and `pertitle cache prune`: what the result cache holds, and dropping what
no run has used for a while. The work is in `pertitle.cache`; this module parses and renders."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pertitle import cache as core
from pertitle.clicmd.common import APP_SETTINGS, CacheDirOpt, cache_dir_problem, consoles, fail, print_literal

app = typer.Typer(
    name="cache",
    help="Show what the result cache holds (info) or remove entries no run has used lately (prune).",
    **APP_SETTINGS,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON document on stdout, nothing else.")]
_DAY_S = 86400.0


def _root(cache_dir: Path | None, err: Console) -> Path:
    """The cache directory asked for (or the default); a file there is a usage error."""
    root = cache_dir if cache_dir is not None else Path(core.default_cache_dir())
    problem = cache_dir_problem(cache_dir, no_cache=False)
    if problem:
        raise fail(err, problem, 2)
    return root


def _unreadable(root: Path, exc: OSError) -> str:
    return f"cannot read the cache {root}: {exc.strerror or exc}"


def _when(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat(timespec="seconds")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


@app.command(help="Where the result cache is, how many entries it holds, their size and age.")
def info(cache_dir: CacheDirOpt = None, json_out: JsonOpt = False) -> None:
    out, err = consoles()
    root = _root(cache_dir, err)
    try:
        s = core.summarize(root)
    except OSError as exc:
        raise fail(err, _unreadable(root, exc), 2) from None
    if json_out:
        doc = {
            "schema": "pertitle.cache/v1",
            "root": s.root,
            "cache_schema": core.CACHE_SCHEMA,
            "entries": s.entries,
            "size_bytes": s.size_bytes,
            "oldest_use": _when(s.oldest_use_s),
            "newest_use": _when(s.newest_use_s),
            "stale_temp_files": s.stale_temp_files,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    print_literal(out, f"cache     {s.root}{'' if root.exists() else ' (not created yet)'}")
    print_literal(out, f"entries   {s.entries} ({_size(s.size_bytes)})")
    if s.oldest_use_s is not None and s.newest_use_s is not None:
        now = time.time()
        # max(0, ...): a shared cache written by a machine whose clock runs ahead holds future times.
        age = max(0.0, now - s.oldest_use_s) / _DAY_S, max(0.0, now - s.newest_use_s) / _DAY_S
        print_literal(out, f"last used {age[1]:.1f} to {age[0]:.1f} days ago")
    if s.stale_temp_files:
        print_literal(out, f"leftover  {s.stale_temp_files} temp files of interrupted writes")


_DEFAULT_DAYS = 30.0


@app.command(help="Remove entries no run has read or written for --older-than days (or --all).")
def prune(
    older_than: Annotated[
        float | None,
        typer.Option(help="Remove entries last used more than this many days ago (30 when not given)."),
    ] = None,
    all_entries: Annotated[bool, typer.Option("--all", help="Remove every entry.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; remove nothing.")] = False,
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    out, err = consoles()
    if all_entries and older_than is not None:
        raise fail(err, "--all removes every entry and --older-than keeps the recent ones: give one", 2)
    older_than = _DEFAULT_DAYS if older_than is None else older_than
    if not math.isfinite(older_than) or older_than < 0:
        raise fail(err, f"--older-than: {older_than:g} must be a number of days, 0 or more", 2)
    root = _root(cache_dir, err)
    try:
        r = core.prune(root, None if all_entries else older_than * _DAY_S, dry_run=dry_run)
    except OSError as exc:
        raise fail(err, _unreadable(root, exc), 2) from None
    if json_out:
        doc = {
            "schema": "pertitle.cache-prune/v1",
            "root": str(root),
            "older_than_days": None if all_entries else older_than,
            "dry_run": r.dry_run,
            "removed": r.removed,
            "freed_bytes": r.freed_bytes,
            "kept": r.kept,
            "failed": r.failed,
        }
        typer.echo(json.dumps(doc, indent=2))
    else:
        verb = "would remove" if dry_run else "removed"
        what = "every entry" if all_entries else f"entries unused for {older_than:g} days"
        print_literal(
            out, f"{verb} {r.removed} files ({_size(r.freed_bytes)}; {what}), kept {r.kept}, in {root}"
        )
    if r.failed:  # what was removed is said above; the rest is an error of the cache directory
        raise fail(
            err,
            f"could not remove {r.failed} of {r.removed + r.failed} files from {root} ({r.first_failure})",
            2,
        )
