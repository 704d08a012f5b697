"""What one probe point costs, taken apart: CPU seconds of each stage of a resolution group.

`make bench` times whole analyses; this says where the time of one point goes, so a speed-up can
be aimed (and so the floor of `--fast` can be worked out): the reference decode a group shares,
the encodes at the real preset and at faster ones, and the scoring with all frames and with
libvmaf's n_subsample, with and without the SSIM branch. Each row is one ffmpeg process, run
alone with one thread (as on a loaded 2-core machine), reading the same lossless reference that
`pertitle analyze` prepares.

    python benchmarks/point_cost.py samples/oldfilm_chaplin_bw_640x360_9.6s_moviepy.mp4 --height 360
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pertitle.ffmpeg import binary, commands
from pertitle.models import EncodeSpec
from pertitle.plan import fit_into_box
from pertitle.probe import probe


def cpu_seconds(argv: list[str]) -> float:
    """CPU seconds (user + system) of one child process run to the end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--crfs", default="18,30,42", help="the CRFs of the group (one process)")
    ap.add_argument("--preset", default="medium")
    args = ap.parse_args()
    ffmpeg = binary.locate()
    info = probe(args.clip)
    h = min(args.height, info.height)
    w = fit_into_box(info.width, info.height, info.width, h).width
    crfs = [float(c) for c in args.crfs.split(",")]
    n = len(crfs)
    work = tempfile.mkdtemp(prefix="point-cost-")
    try:
        ref = os.path.join(work, "reference.mkv")
        subprocess.run(
            commands.prepare_argv(ffmpeg, args.clip, None, info.width, info.height, ref, 2), check=True
        )
        outs = [os.path.join(work, f"enc{i}.mp4") for i in range(n)]
        logs = [os.path.join(work, f"vmaf{i}.json") for i in range(n)]
        model = "vmaf_v0.6.1"

        def group(preset: str, n_subsample: int) -> list[str]:
            specs = [EncodeSpec("h264", preset, w, h, "crf", crf=c) for c in crfs]
            return commands.group_argv(
                ffmpeg,
                ref,
                specs,
                outs,
                logs,
                ref_width=info.width,
                ref_height=info.height,
                fps=info.fps,
                threads=1,
                model=model,
                n_subsample=n_subsample,
            )

        def encodes_only(argv: list[str]) -> list[str]:
            return argv[: argv.index("-dec")]

        head = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-threads", "1"]
        rows = [("decode the lossless reference", cpu_seconds([*head, "-i", ref, "-f", "null", "-"]), 1)]
        for preset in dict.fromkeys((args.preset, "veryfast", "superfast")):
            rows.append((f"encode only, {preset}", cpu_seconds(encodes_only(group(preset, 1))), n))
        for sub in (1, 4):
            rows.append(
                (f"encode {args.preset} + score, n_subsample {sub}", cpu_seconds(group(args.preset, sub)), n)
            )

        def score(n_subsample: int, ssim: bool) -> list[str]:
            return commands.measure_argv(
                ffmpeg,
                outs[1],
                ref,
                info.width,
                info.height,
                scaler="bicubic",
                model=model,
                log_path=logs[1],
                threads=1,
                n_subsample=n_subsample,
                ssim=ssim,
            )

        for sub in (1, 4):
            rows.append((f"score one encode, n_subsample {sub}", cpu_seconds(score(sub, True)), 1))
            rows.append((f"  of which without SSIM, n_subsample {sub}", cpu_seconds(score(sub, False)), 1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{Path(args.clip).name}: {w}x{h} from {info.width}x{info.height}, "
        f"{info.frame_count} frames, CRFs {args.crfs}"
    )
    print("| stage | CPU s | per point |")
    print("|---|---|---|")
    for label, seconds, points in rows:
        print(f"| {label} | {seconds:.2f} | {seconds / points:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
