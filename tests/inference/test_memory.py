"""Peak memory must not grow with the video's length (measured in child processes).

What a run holds is bounded by the window, the read-ahead and the reference cap, not by the
length. With one reference per window that working set is full within the first ~30 frames,
so a 40-frame run already shows the steady state a 200-frame run must not exceed.
"""

from __future__ import annotations

import subprocess
import sys

import imageio_ffmpeg

from tests.inference.conftest import TINY_GENERATOR, TINY_SIZE, box_mask, write_mask

CHILD = """
import sys
from sttn_lightning.inference import inpaint_video
from sttn_lightning.models import InpaintGenerator
summary = inpaint_video(
    sys.argv[1], sys.argv[2], InpaintGenerator(**{generator}), sys.argv[3], size={size}, neighbour_stride=10, max_references=1, progress=False
)
print(summary.peak_rss_mb)
"""


def peak_rss_of_a_run(tmp_path, num_frames: int) -> float:
    # 640x360 frames: holding every decoded frame of the longer clip would add ~180 MB, over 30%
    video = tmp_path / f"clip{num_frames}.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
         "-frames:v", str(num_frames), "-g", "16", "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )
    mask = write_mask(tmp_path / "mask.png", box_mask(640, 360, 300, 150, 340, 180))
    child = CHILD.format(generator=dict(TINY_GENERATOR), size=TINY_SIZE)
    result = subprocess.run([sys.executable, "-c", child, str(video), str(mask), str(tmp_path / f"out{num_frames}")],
                            capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def test_peak_rss_is_flat_in_the_number_of_frames(tmp_path):
    short, long = peak_rss_of_a_run(tmp_path, 40), peak_rss_of_a_run(tmp_path, 200)
    assert long <= short * 1.15, f"peak RSS {short:.0f} MB for 40 frames but {long:.0f} MB for 200"
