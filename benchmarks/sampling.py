"""How well sample windows stand for a long title: deployed encodes on the windows against the same
encodes of the whole title.

For each way of placing the windows (even, complexity) and for the whole title, encode the given
rungs as deployed (two-pass, VBV 1.5x/2x, the default preset) and score them; a prediction made on
the windows is good when its VMAF matches the whole title's.

    python benchmarks/sampling.py ../shared/clips/bbb_anim_1280x720_30s_moviepy.webm 360@100,432@279,720@779
"""

from __future__ import annotations

import argparse

from pertitle.cache import ResultCache
from pertitle.config import Settings
from pertitle.ffmpeg.binary import detect, locate
from pertitle.models import SampleWindow
from pertitle.plan import deployed_spec, fit_into_box, plan_windows
from pertitle.probe import probe
from pertitle.probes import Runner, title_complexity


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("rungs", help="height@kbps,... e.g. 360@100,720@779")
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()
    info = probe(args.clip)
    settings = Settings(cache_dir=args.cache_dir)
    ffmpeg = detect(locate())
    cache = ResultCache(settings.cache_dir)
    complexity = title_complexity(info, settings, ffmpeg, cache)
    ways = {
        "even": plan_windows(info, settings)[0],
        "complexity": plan_windows(info, settings, complexity)[0],
        "whole": (SampleWindow(0, 0.0, round(info.duration_s, 3)),),
    }
    specs = []
    for item in args.rungs.split(","):
        height, kbps = (float(x) for x in item.split("@"))
        width = fit_into_box(info.width, info.height, info.width, int(height)).width
        specs.append(deployed_spec(settings, width, int(height), kbps, kbps * 1.5, kbps * 2))
    print(f"{args.clip}: {info.duration_s:.1f} s; stretch costs {[round(c / 1000) for c in complexity]} kB")
    print("| windows | starts s | " + " | ".join(f"{s.height}p@{s.bitrate_kbps:.0f}" for s in specs) + " |")
    print("|---|---|" + "---|" * len(specs))
    for name, windows in ways.items():
        runner = Runner(info, windows, name == "whole", settings, ffmpeg, cache, lambda _: None)
        try:
            measured = runner.run(specs, name)
        finally:
            runner.close()
        starts = ", ".join(f"{w.start_s:g}" for w in windows)
        cells = " | ".join(f"{measured[s].vmaf:.2f} ({measured[s].bitrate_kbps:.0f} kbps)" for s in specs)
        print(f"| {name} | {starts} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
