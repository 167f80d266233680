"""Peak memory must not grow with the video's length (measured in child processes).

What a run holds is bounded by the window, the read-ahead and the reference cap, not by the
length. With one reference per window that working set is full within the first ~30 frames,
so a 40-frame run already shows the steady state a 200-frame run must not exceed; evaluation
streams through the same pipeline into its scorer and must stay as flat. The
decoder gets its own check at 1280x720, where a reader that buffers decoded frames beyond
the ones asked for (decord did: +29% from 60 to 400 frames) shows up clearly.
"""

from __future__ import annotations

import subprocess
import sys

import imageio_ffmpeg
import pytest

from tests.inference.conftest import TINY_GENERATOR, TINY_SIZE, box_mask, write_mask

pytestmark = pytest.mark.slow  # child-process runs over long clips

CHILD = """
import sys
from sttn_lightning.inference import inpaint_video
from sttn_lightning.models import InpaintGenerator
summary = inpaint_video(
    sys.argv[1], sys.argv[2], InpaintGenerator(**{generator}), sys.argv[3], size={size}, neighbour_stride=10, max_references=1, progress=False
)
print(summary.peak_rss_mb)
"""

# The pipeline's reads without the model: 16-frame sequential runs, a reference 50 frames
# ahead of each, frames dropped once 16 frames behind.
READER_CHILD = """
import sys
from sttn_lightning.devices import peak_rss_mb
from sttn_lightning.media import open_frames
source = open_frames(sys.argv[1])
held = {}
for start in range(0, source.num_frames, 16):
    run = [index for index in range(start, min(start + 16, source.num_frames)) if index not in held]
    held.update(zip(run, source.read(run)))
    if start + 50 < source.num_frames and start + 50 not in held:
        held[start + 50] = source.read([start + 50])[0]
    for index in [index for index in held if index < start - 16]:
        del held[index]
print(peak_rss_mb())
"""


EVALUATE_CHILD = """
import sys
from pathlib import Path
from sttn_lightning.devices import peak_rss_mb
from sttn_lightning.evaluation import GeneratorResults, evaluate_dataset
from sttn_lightning.media import Size, open_eval_set
from sttn_lightning.models import InpaintGenerator
collection, masks = open_eval_set(sys.argv[1], layout="video", split=None, masks="box")
results = GeneratorResults(InpaintGenerator(**{generator}), dict(neighbour_stride=10, max_references=1, device="cpu"))
evaluate_dataset(collection, masks, results, Size(*{size}), progress=False)
print(peak_rss_mb())
"""


def write_testsrc(path, num_frames: int, size: str):
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25",
         "-frames:v", str(num_frames), "-g", "250", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path


def last_line_of(child: str, *args) -> float:
    result = subprocess.run([sys.executable, "-c", child, *map(str, args)], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def peak_rss_of_a_run(tmp_path, num_frames: int) -> float:
    # 640x360 frames: holding every decoded frame of the longer clip would add ~180 MB, over 30%
    video = write_testsrc(tmp_path / f"clip{num_frames}.mp4", num_frames, "640x360")
    mask = write_mask(tmp_path / "mask.png", box_mask(640, 360, 300, 150, 340, 180))
    child = CHILD.format(generator=dict(TINY_GENERATOR), size=TINY_SIZE)
    return last_line_of(child, video, mask, tmp_path / f"out{num_frames}")


def test_peak_rss_is_flat_in_the_number_of_frames(tmp_path):
    short, long = peak_rss_of_a_run(tmp_path, 40), peak_rss_of_a_run(tmp_path, 200)
    assert long <= short * 1.15, f"peak RSS {short:.0f} MB for 40 frames but {long:.0f} MB for 200"


def test_decoding_a_longer_720p_video_needs_no_more_memory(tmp_path):
    short, long = (last_line_of(READER_CHILD, write_testsrc(tmp_path / f"{n}.mp4", n, "1280x720")) for n in (60, 400))
    assert long <= short * 1.15, f"peak RSS {short:.0f} MB reading 60 frames but {long:.0f} MB reading 400"


def test_evaluation_peak_rss_is_flat_in_the_number_of_frames(tmp_path):
    peaks = []
    for num_frames in (40, 200):
        root = tmp_path / f"set{num_frames}"
        root.mkdir()
        write_testsrc(root / "clip.mp4", num_frames, "640x360")
        peaks.append(last_line_of(EVALUATE_CHILD.format(generator=dict(TINY_GENERATOR), size=TINY_SIZE), root))
    short, long = peaks
    assert long <= short * 1.15, f"evaluation peak RSS {short:.0f} MB for 40 frames but {long:.0f} MB for 200"
