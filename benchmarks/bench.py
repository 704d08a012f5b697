"""`make bench`: the cost of producing one title's hull, three ways, on the same grid.

1. naive: what an engineer scripts by hand, kept here as the baseline: for each point one ffmpeg
   encode from the source, then one separate ffmpeg libvmaf pass (VMAF+PSNR+SSIM), one point at a
   time. It uses pertitle's own encode arguments (so its points are the same points) and the
   libvmaf call an engineer writes (VMAF with libvmaf's own PSNR and SSIM features), with
   ffmpeg's default threading for each: x264 uses every core, libvmaf its default (one thread).
2. analyze: `pertitle analyze` on exactly that grid, cache off, whole title, no rung check.
3. fast: the same with `--fast`.

Each way runs in its own child process, so its wall time, CPU seconds (itself and every ffmpeg it
started) and peak resident memory are its own. Accuracy of the fast ladder against the full grid:
BD-rate between the two hulls over their overlapping VMAF range, read along the hulls' own linear
segments (`bdrate.hull_bd_rate`) and, as `compare` reads ladders, with pchip through the vertices;
and the largest VMAF difference at the chosen rungs (each ladder's rung read off the other's curve
at the same height and bitrate). The share of the grid that is hull vertices is reported too: no
method that measures the hull at the real preset on the same frames can encode less.

    python benchmarks/bench.py                       # every clip in samples/
    python benchmarks/bench.py clip.mp4 --heights 360,540,720 --crfs 20,26,32,38 --preset veryfast
    python benchmarks/bench.py --heights default --ways analyze,fast   # each clip's own default grid
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HEIGHTS = "234,360,432,540"
DEFAULT_CRFS = "18,22,26,30,34,38,42"


def hand_scripted_libvmaf(
    ffmpeg: str, encode: str, source: str, width: int, height: int, log: str
) -> list[str]:
    """The metric pass as an engineer writes it: one libvmaf call with its PSNR and SSIM features
    (libvmaf's float_ssim), the encode upscaled bicubic to the source, frames paired by index."""
    retime = "settb=1/1000,setpts=N*1000"
    graph = (
        f"[0:v:0]scale={width}:{height}:flags=bicubic,setsar=1,format=yuv420p,{retime}[d];"
        f"[1:v:0]setsar=1,format=yuv420p,{retime}[r];"
        f"[d][r]libvmaf=model=version=vmaf_v0.6.1:feature=name=psnr\\|name=float_ssim:log_fmt=json"
        f":shortest=1:log_path={log}"
    )
    head = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    return [*head, "-i", encode, "-i", source, "-lavfi", graph, "-f", "null", "-"]


def naive(clip: str, heights: list[int], crfs: list[float], preset: str) -> dict[str, Any]:
    """The hand-scripted baseline: encode, then score, one point at a time."""
    from pertitle import encode, measure
    from pertitle.ffmpeg import binary, commands, runner
    from pertitle.models import EncodeSpec
    from pertitle.plan import fit_into_box
    from pertitle.probe import probe

    ffmpeg = binary.locate()
    info = probe(clip)
    work = tempfile.mkdtemp(prefix="bench-naive-")
    points = []
    try:
        for h in heights:
            if h > info.height:
                continue
            w = fit_into_box(info.width, info.height, info.width, h).width
            for crf in crfs:
                spec = EncodeSpec("h264", preset, w, h, "crf", crf=crf)
                out = os.path.join(work, f"{h}_{crf:g}.mp4")
                runner.run(commands.encode_argv(ffmpeg, clip, spec, out, fps=info.fps, threads=None))
                log = os.path.join(work, "vmaf.json")
                runner.run(hand_scripted_libvmaf(ffmpeg, out, clip, info.width, info.height, log))
                scores = measure.summarize(measure.parse_vmaf_log(json.loads(Path(log).read_text())))
                stats = encode.stream_stats(out)
                kbps = stats.size_bytes * 8 / (stats.duration_s or stats.frames / info.fps) / 1000
                points.append({"width": w, "height": h, "crf": crf, "bitrate_kbps": kbps, **scores})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"points": points, "encodes": len(points)}


def pertitle_run(clip: str, heights: str, crfs: str, preset: str, fast: bool) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "pertitle",
        "analyze",
        clip,
        "--json",
        "--no-cache",
        "--no-calibrate",
        "--full-pass-below",
        "1e9",
        "--heights",
        heights,
        "--crfs",
        crfs,
        "--preset",
        preset,
    ]
    if fast:
        argv.append("--fast")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"pertitle failed on {clip}: {proc.stderr.strip().splitlines()[-1:]}")
    doc: dict[str, Any] = json.loads(proc.stdout)
    return {"points": doc["points"], "rungs": doc["rungs"], "encodes": doc["timings"]["encodes"]}


def child(mode: str, clip: str, heights: str, crfs: str, preset: str) -> None:
    """Run one way in this process and print its numbers as JSON (the parent reads them)."""
    t0 = time.perf_counter()
    if mode == "naive":
        out = naive(clip, [int(h) for h in heights.split(",")], [float(c) for c in crfs.split(",")], preset)
    else:
        out = pertitle_run(clip, heights, crfs, preset, fast=(mode == "fast"))
    wall = time.perf_counter() - t0
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    out["wall_s"] = wall
    out["cpu_s"] = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    out["peak_rss_mb"] = max(me.ru_maxrss, kids.ru_maxrss) / 1024  # Linux reports KiB
    print(json.dumps(out))


def clip_heights(clip: str, heights: str) -> str:
    """`heights` as given, or for "default" the heights `pertitle analyze` probes on this clip."""
    if heights != "default":
        return heights
    from pertitle.config import Settings
    from pertitle.plan import plan_resolutions
    from pertitle.probe import probe

    return ",".join(str(r.height) for r in plan_resolutions(probe(clip), Settings()))


def run_child(mode: str, clip: str, heights: str, args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", mode, clip, "--heights", heights, "--crfs", args.crfs]
    argv += ["--preset", args.preset]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed on {clip}:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def accuracy(full: dict[str, Any], fast: dict[str, Any]) -> dict[str, Any]:
    from pertitle.bdrate import bd_rate, hull_bd_rate
    from pertitle.hull import curves_by_height, interpolate, upper_hull
    from pertitle.models import RdPoint

    def pts(doc: dict[str, Any]) -> list[RdPoint]:
        return [
            RdPoint(p["width"], p["height"], p["crf"], p["bitrate_kbps"], p["vmaf"], p["psnr"], p["ssim"])
            for p in doc["points"]
        ]

    full_pts, fast_pts = pts(full), pts(fast)
    vertices_full = upper_hull(full_pts).vertices
    hull_full = [(v.bitrate_kbps, v.vmaf) for v in vertices_full]
    hull_fast = [(v.bitrate_kbps, v.vmaf) for v in upper_hull(fast_pts).vertices]
    bd = bd_rate(hull_full, hull_fast)
    bd_linear = hull_bd_rate(hull_full, hull_fast)
    diffs = []
    for rungs, other in (
        (fast["rungs"], curves_by_height(full_pts, "vmaf")),
        (full["rungs"], curves_by_height(fast_pts, "vmaf")),
    ):
        for r in rungs:
            curve = other.get(r["height"])
            value = interpolate(curve, r["bitrate_kbps"], "vmaf") if curve else None
            if value is not None:
                diffs.append(abs(value - r["predicted"]["vmaf"]))
    return {
        "bd_rate_pct": bd.value_pct,
        "bd_reason": bd.reason,
        "bd_rate_hull_linear_pct": bd_linear.value_pct,
        # Any method that measures the hull at the real preset on the same frames must at least
        # encode its vertices: the share of the grid they are bounds how cheap it can be.
        "hull_vertices": len(vertices_full),
        "grid_points": len(full_pts),
        "max_rung_vmaf_diff": max(diffs) if diffs else None,
        "rungs_compared": len(diffs),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description="pertitle speed benchmark against a naive baseline")
    ap.add_argument("clips", nargs="*")
    ap.add_argument(
        "--heights", default=DEFAULT_HEIGHTS, help='comma-separated, or "default": analyze\'s own'
    )
    ap.add_argument("--ways", default="naive,analyze,fast", help="which of naive,analyze,fast to run")
    ap.add_argument("--crfs", default=DEFAULT_CRFS)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.clips[0], args.heights, args.crfs, args.preset)
        return 0
    clips = args.clips or sorted(
        str(p) for p in (ROOT / "samples").iterdir() if p.suffix in (".mp4", ".ogv", ".mkv", ".webm")
    )
    args.out.mkdir(parents=True, exist_ok=True)
    ways = [w for w in ("naive", "analyze", "fast") if w in args.ways.split(",")]
    if not {"analyze", "fast"} <= set(ways):
        raise SystemExit("--ways must include analyze and fast (the accuracy compares them)")
    rows = []
    for clip in clips:
        heights = clip_heights(clip, args.heights)
        runs = {mode: run_child(mode, clip, heights, args) for mode in ways}
        acc = accuracy(runs["analyze"], runs["fast"])
        base = runs.get("naive")
        row = {
            "clip": Path(clip).name,
            "heights": heights,
            "cores": os.cpu_count(),
            **acc,
        }
        for mode, r in runs.items():
            row[mode] = {k: r[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "encodes")}
            row[mode]["wall_vs_naive"] = r["wall_s"] / base["wall_s"] if base else None
            row[mode]["cpu_vs_naive"] = r["cpu_s"] / base["cpu_s"] if base else None
        row["fast_vs_analyze_wall"] = runs["fast"]["wall_s"] / runs["analyze"]["wall_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    (args.out / "bench.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        f"grid: heights {args.heights}, CRFs {args.crfs}, x264 preset {args.preset}; {os.cpu_count()} cores",
        *(f"{row['clip']}: heights {row['heights']}" for row in rows if args.heights == "default"),
        "",
        "| clip | way | wall s | x naive | CPU s | x naive | encodes | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def ratio(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    for row in rows:
        for mode in ways:
            r = row[mode]
            lines.append(
                f"| {row['clip']} | {mode} | {r['wall_s']:.1f} | {ratio(r['wall_vs_naive'])} "
                f"| {r['cpu_s']:.1f} | {ratio(r['cpu_vs_naive'])} | {r['encodes']} | {r['peak_rss_mb']:.0f} |"
            )
    lines += [
        "",
        "| clip | fast / analyze wall | hull vertices / grid | hull BD-rate fast vs full, hull's segments "
        "| the same, pchip through the vertices | max rung VMAF diff |",
        "|---|---|---|---|---|---|",
    ]

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.2f}%"

    for row in rows:
        diff = "n/a" if row["max_rung_vmaf_diff"] is None else f"{row['max_rung_vmaf_diff']:.2f}"
        vertices, grid = row["hull_vertices"], row["grid_points"]
        share = f"{vertices}/{grid} = {vertices / grid:.2f}"
        lines.append(
            f"| {row['clip']} | {row['fast_vs_analyze_wall']:.2f} | {share} "
            f"| {pct(row['bd_rate_hull_linear_pct'])} | {pct(row['bd_rate_pct'])} | {diff} |"
        )
    text = "\n".join(lines) + "\n"
    (args.out / "bench.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
