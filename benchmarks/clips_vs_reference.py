"""Per-title ladders against a fixed reference ladder, on real clips: analyze, verify, compare.

For every clip: `pertitle analyze` with its defaults, `pertitle verify` of the emitted ladder on the
whole clip, and `pertitle compare` against the reference (Apple HLS H.264 by default). Writes one
JSON per clip and a Markdown table (the README's results table) to --out.

    python benchmarks/clips_vs_reference.py samples/*.mp4 ../shared/clips/*.mp4 --out out/clips
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def run(argv: list[str], log: Path) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ {shlex.join(argv)}\n# exit {proc.returncode}, {wall:.1f} s\n{proc.stderr}\n")
    return proc.returncode, proc.stdout, wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("out/clips"))
    ap.add_argument("--reference", default="apple_hls_h264")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--analyze-args", default="", help="extra arguments for pertitle analyze")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "commands.log"
    exe = [sys.executable, "-m", "pertitle"]
    cache = ["--cache-dir", args.cache_dir] if args.cache_dir else []
    rows: list[dict[str, Any]] = []
    for clip in args.clips:
        name = clip.stem
        row: dict[str, Any] = {"clip": clip.name}
        rc, _, wall = run(
            [
                *exe,
                "analyze",
                str(clip),
                "--out",
                str(args.out),
                "-q",
                *cache,
                *shlex.split(args.analyze_args),
            ],
            log,
        )
        row["analyze_rc"], row["analyze_s"] = rc, round(wall, 1)
        ladder = args.out / f"{name}.ladder.json"
        if rc != 0 or not ladder.exists():
            rows.append(row)
            continue
        doc = json.loads(ladder.read_text())
        row["rungs"] = len(doc["rungs"])
        row["encodes"] = doc["timings"]["encodes"]
        row["ladder"] = " ".join(f"{r['height']}p@{r['bitrate_kbps']:g}" for r in doc["rungs"])
        rc, out, wall = run([*exe, "verify", str(ladder), str(clip), "--json", *cache], log)
        row["verify_rc"], row["verify_s"] = rc, round(wall, 1)
        if out.strip():
            v = json.loads(out)
            (args.out / f"{name}.verify.json").write_text(out)
            errs = [r["measured"]["vmaf"] - r["predicted"]["vmaf"] for r in v.get("rungs", [])]
            row["max_abs_vmaf_err"] = round(max((abs(e) for e in errs), default=float("nan")), 2)
        rc, out, wall = run(
            [
                *exe,
                "compare",
                str(clip),
                "--ladder",
                str(ladder),
                "--reference",
                args.reference,
                "--json",
                *cache,
            ],
            log,
        )
        row["compare_rc"], row["compare_s"] = rc, round(wall, 1)
        if out.strip():
            c = json.loads(out)
            (args.out / f"{name}.compare.json").write_text(out)
            row["bd_rate_vmaf_pct"] = c["bd_rate"]["vmaf_pct"]
            row["bd_rate_psnr_pct"] = c["bd_rate"]["psnr_pct"]
            row["bits_saved_pct"] = c.get("bits_saved_pct")
            row["total_kbps"] = (c["ladder"]["total_kbps"], c["reference"]["total_kbps"])
            row["best"] = {side: c[side]["best"] for side in ("ladder", "reference")}
            row["reference_kbps_at_ladder_best"] = c["reference_kbps_at_ladder_best"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        "| clip | rungs (height@kbps) | BD-rate VMAF | BD-rate PSNR | verify (max VMAF error) "
        "| total kbps ladder / reference | best rung: VMAF@kbps, ladder / reference "
        "| reference kbps for the ladder's best VMAF | analyze s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:

        def pct(v: Any) -> str:
            return "n/a" if v is None else f"{v:+.1f}%"

        verify = "pass" if r.get("verify_rc") == 0 else f"FAIL ({r.get('verify_rc')})"
        tot = r.get("total_kbps")
        best = r.get("best")
        tops = (
            " / ".join(
                f"{best[k]['vmaf']:.1f}@{best[k]['bitrate_kbps']:.0f}" for k in ("ladder", "reference")
            )
            if best
            else "n/a"
        )
        need = r.get("reference_kbps_at_ladder_best")
        lines.append(
            f"| {r['clip']} | {r.get('ladder', 'analyze failed')} | {pct(r.get('bd_rate_vmaf_pct'))} | "
            f"{pct(r.get('bd_rate_psnr_pct'))} | {verify} ({r.get('max_abs_vmaf_err', 'n/a')}) | "
            f"{f'{tot[0]:.0f} / {tot[1]:.0f}' if tot else 'n/a'} | {tops} | "
            f"{'never' if need is None else f'{need:.0f}'} | {r.get('analyze_s')} |"
        )
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
