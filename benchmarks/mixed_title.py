"""Build a 43 s 1280x720 title of four kinds of content from the shared clips, one after another:
live action (5 s), a traffic camera (12 s), aerial footage (5.9 s) and animation (20 s), all at
30 fps. Long enough to be probed on sample windows, and varied enough that windows cannot stand
for the whole title on their own: the test case for predictions of a sampled title.

    python benchmarks/mixed_title.py ../shared/clips out/mixed_720p.mp4
    python benchmarks/clips_vs_reference.py out/mixed_720p.mp4 --out out/mixed
    python benchmarks/mixed_title.py ../shared/clips out/long_720p.mp4 --long
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from pertitle.ffmpeg import binary

PARTS = (  # (file, seconds taken from its start; None: all of it)
    ("liveaction_bed_dog_1280x720_5s_androidx.mp4", None),
    ("traffic_cars_768x432_30s_intel.mp4", 12),
    ("aerial_plane_clouds_1280x720_5.9s_pexels.mp4", None),
    ("bbb_anim_1280x720_30s_moviepy.webm", 20),
)
# --long: 115 s of every kind of content in the shared clips (each stretched to 1280x720): the
# test case for running the in-context two-pass on a sample of a title instead of all of it
# (measured and not kept: stratified samples of 6, 12 and 18 stretches of 4 s put the windows'
# share of a rung's bits up to 8-10% off the whole title's, no closer than taking the windows for
# the title, 5-10% off; see the README).
LONG_PARTS = (
    ("liveaction_bed_dog_1280x720_5s_androidx.mp4", None),
    ("traffic_cars_768x432_30s_intel.mp4", None),
    ("aerial_plane_clouds_1280x720_5.9s_pexels.mp4", None),
    ("oldfilm_chaplin_bw_640x360_9.6s_moviepy.mp4", None),
    ("bbb_anim_1280x720_30s_moviepy.webm", None),
    ("screen_desktop_kdenlive_1392x1040_11s_teeks99.ogv", None),
    ("sports_skateboard_splash_2048x1080_7.5s_pexels.mkv", None),
    ("sintel_anim_960x408_10s_teeks99.mp4", None),
    ("detail_playingcards_2048x1024_3.2s_pexels_crf10.mp4", None),
    ("sports_ski_pov_1920x1080_1.4s_pexels_crf10.mp4", None),
    ("sintel_anim_854x480_2s_moviepy.mp4", None),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", type=Path, help="the directory of the shared clips")
    ap.add_argument("out", type=Path)
    ap.add_argument("--long", action="store_true", help="the 115 s title of every kind of content")
    args = ap.parse_args()
    parts = LONG_PARTS if args.long else PARTS
    argv = [binary.locate(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    legs = []
    for i, (name, seconds) in enumerate(parts):
        argv += ["-i", str(args.clips / name)]
        cut = f"trim=0:{seconds},setpts=PTS-STARTPTS," if seconds else ""
        legs.append(f"[{i}:v]{cut}fps=30,scale=1280:720,setsar=1,format=yuv420p[p{i}]")
    joined = "".join(f"[p{i}]" for i in range(len(parts)))
    graph = ";".join(legs) + f";{joined}concat=n={len(parts)}:v=1:a=0[o]"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    argv += ["-filter_complex", graph, "-map", "[o]", "-c:v", "libx264", "-preset", "fast", "-crf", "14"]
    return subprocess.run([*argv, str(args.out)], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
