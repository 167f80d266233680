"""End-to-end inpainting on clips written in the test: shapes, untouched pixels, the release protocol."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from sttn_lightning.inference import inpaint_frames, inpaint_video, runner
from sttn_lightning.protocol import torch_kernels, working_holes
from tests.inference.conftest import (
    TINY_SIZE,
    box_mask,
    has_audio,
    make_frames,
    read_png_folder,
    write_frame_folder,
    write_mask,
    write_video,
)

CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def dilated(mask: np.ndarray, iterations: int = 4) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), CROSS, iterations=iterations).astype(bool)


@pytest.mark.parametrize("num_frames", [1, 3, 40])
def test_png_output_keeps_every_pixel_outside_the_dilated_mask(tmp_path, tiny_generator, num_frames):
    frames = make_frames(num_frames, 71, 41)
    masks = [box_mask(71, 41, 20 + t % 5, 10, 35 + t % 5, 22) for t in range(num_frames)]
    for index, mask in enumerate(masks):
        write_mask(tmp_path / "masks" / f"{index:03d}.png", mask)
    video = write_frame_folder(tmp_path / "frames", frames)
    summary = inpaint_video(video, tmp_path / "masks", tiny_generator, tmp_path / "out", size=TINY_SIZE, progress=False)
    output = read_png_folder(tmp_path / "out")
    assert output.shape == frames.shape and summary.frames == num_frames
    holes = np.stack([dilated(mask) for mask in masks])
    assert np.array_equal(output[~holes], frames[~holes])
    assert (output[holes] != frames[holes]).any()


def test_video_output_keeps_frame_count_size_fps_and_audio(tmp_path, tiny_generator):
    decord = pytest.importorskip("decord")  # an independent decoder checks the output (an extra, x86-64 only)
    frames = make_frames(12, 67, 37)
    video = write_video(tmp_path / "in.mp4", frames, fps="30000/1001", audio=True)
    mask = write_mask(tmp_path / "mask.png", box_mask(67, 37, 10, 10, 30, 20))
    inpaint_video(video, mask, tiny_generator, tmp_path / "out.mp4", size=TINY_SIZE, progress=False)
    source, result = decord.VideoReader(str(video)), decord.VideoReader(str(tmp_path / "out.mp4"))
    assert len(result) == len(source) == 12
    assert result[0].shape == source[0].shape == (37, 67, 3)
    assert result.get_avg_fps() == pytest.approx(source.get_avg_fps(), rel=1e-4)
    assert has_audio(tmp_path / "out.mp4")


def test_video_input_to_png_output_is_lossless_outside_the_holes(tmp_path, tiny_generator):
    decord = pytest.importorskip("decord")
    video = write_video(tmp_path / "in.mp4", make_frames(7, 50, 30))
    decoded = decord.VideoReader(str(video)).get_batch(list(range(7))).asnumpy()
    mask = box_mask(50, 30, 5, 5, 15, 12)
    inpaint_video(video, write_mask(tmp_path / "m.png", mask), tiny_generator, tmp_path / "out", size=TINY_SIZE, progress=False)
    holes = dilated(mask)
    assert np.array_equal(read_png_folder(tmp_path / "out")[:, ~holes], decoded[:, ~holes])


def release_reference(generator, frames: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The release's inference written naively: whole video in memory, windows and blending as reference section 4."""
    width, height = size
    small = [np.asarray(Image.fromarray(frame).resize(size, Image.BICUBIC)) for frame in frames]
    hole = cv2.dilate((np.asarray(Image.fromarray(mask).resize(size, Image.NEAREST)) > 0).astype(np.uint8), CROSS, iterations=4)
    hole3 = hole[..., None]
    images = torch.tensor(np.stack(small)).permute(0, 3, 1, 2).float() / 255 * 2 - 1
    masks = torch.tensor(hole).float()[None, None].expand(len(frames), 1, height, width)
    with torch.inference_mode():
        features = generator.encode(images * (1 - masks))
        results = [None] * len(frames)
        for centre in range(0, len(frames), 5):
            neighbours = list(range(max(0, centre - 5), min(len(frames), centre + 6)))
            references = [i for i in range(0, len(frames), 10) if i not in neighbours]
            ids = neighbours + references
            predicted = generator.decode_features(features[ids][None], masks[ids][None])[0, : len(neighbours)]
            pixels = ((predicted + 1) / 2).permute(0, 2, 3, 1).numpy() * 255
            for k, index in enumerate(neighbours):
                image = pixels[k].astype(np.uint8) * hole3 + small[index] * (1 - hole3)
                if results[index] is None:
                    results[index] = image
                else:
                    results[index] = results[index].astype(np.float32) * 0.5 + image.astype(np.float32) * 0.5
    return np.stack([result.astype(np.uint8) for result in results])


def test_release_protocol_matches_a_naive_reference(tmp_path, tiny_generator):
    frames = make_frames(23, 90, 50, seed=3)
    mask = box_mask(90, 50, 30, 15, 60, 35) * 255
    video = write_frame_folder(tmp_path / "frames", frames)
    inpaint_video(
        video, write_mask(tmp_path / "m.png", mask), tiny_generator, tmp_path / "out", size=TINY_SIZE, protocol="release",
        precision="fp32", progress=False,  # the reference computes in fp32
    )
    output = read_png_folder(tmp_path / "out")
    expected = release_reference(tiny_generator, frames, mask.astype(np.uint8), TINY_SIZE)
    assert output.shape == (23, TINY_SIZE[1], TINY_SIZE[0], 3)
    assert np.array_equal(output, expected)


def test_each_frame_is_encoded_once_per_crop(tmp_path, tiny_generator):
    frames = make_frames(23, 240, 34)
    video = write_frame_folder(tmp_path / "frames", frames)
    mask = write_mask(tmp_path / "m.png", box_mask(240, 34, 20, 10, 30, 20))
    encoded = []
    encode = tiny_generator.encode
    tiny_generator.encode = lambda batch: encoded.append(len(batch)) or encode(batch)
    for crop_segment in (50, 10):  # a hole that stays put: the segments of 10 frames share its crop
        encoded.clear()
        output = tmp_path / f"static-{crop_segment}"
        inpaint_video(video, mask, tiny_generator, output, size=TINY_SIZE, crop_segment=crop_segment, progress=False)
        assert sum(encoded) == 23
    # a hole that moves along the frame, to another crop every 10 frames; each segment encodes the frames its
    # windows read (neighbours + references): centres 0, 5 read {0..10, 20}; 10, 15 read {0, 5..20}; 20 reads {0, 10, 15..22}
    masks = np.stack([box_mask(240, 34, 10 + 90 * (index // 10), 10, 30 + 90 * (index // 10), 20) for index in range(23)])
    encoded.clear()
    inpaint_frames(frames, masks, tiny_generator, size=TINY_SIZE, crop_segment=10)
    assert sum(encoded) == 12 + 17 + 10


def test_bf16_autocast_keeps_unmasked_pixels(tmp_path, tiny_generator):
    frames = make_frames(3, 45, 27)
    video = write_frame_folder(tmp_path / "frames", frames)
    mask = box_mask(45, 27, 10, 8, 20, 16)
    inpaint_video(
        video, write_mask(tmp_path / "m.png", mask), tiny_generator, tmp_path / "out", size=TINY_SIZE, precision="bf16", progress=False
    )
    holes = dilated(mask)
    assert np.array_equal(read_png_folder(tmp_path / "out")[:, ~holes], frames[:, ~holes])


def test_compile_runs_the_generator_through_torch_compile(tiny_generator, monkeypatch):
    compiled = []

    def recording_compile(function, **kwargs):
        compiled.append(function.__name__)
        return function  # the real compile costs a minute on a CPU; its numerics are torch's concern

    monkeypatch.setattr(torch, "compile", recording_compile)
    frames = make_frames(8, 40, 24)
    masks = np.repeat(box_mask(40, 24, 10, 5, 20, 15)[None], 8, axis=0)
    eager = inpaint_frames(frames, masks, tiny_generator, size=TINY_SIZE)
    assert compiled == []
    assert np.array_equal(inpaint_frames(frames, masks, tiny_generator, size=TINY_SIZE, compile=True), eager)
    assert compiled == ["encode", "decode_features"]


def test_on_a_cpu_the_generator_runs_on_every_thread_and_the_pipelines_own_ops_on_one(tiny_generator, monkeypatch):
    seen = []
    encode, decode = tiny_generator.encode, tiny_generator.decode_features
    monkeypatch.setattr(tiny_generator, "encode", lambda batch: seen.append(("encode", torch.get_num_threads())) or encode(batch))
    monkeypatch.setattr(
        tiny_generator, "decode_features", lambda *args: seen.append(("decode", torch.get_num_threads())) or decode(*args)
    )
    blend = runner.blend
    monkeypatch.setattr(runner, "blend", lambda *args: seen.append(("blend", torch.get_num_threads())) or blend(*args))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        frames = make_frames(6, 40, 24)
        inpaint_frames(frames, np.repeat(box_mask(40, 24, 10, 5, 20, 15)[None], 6, axis=0), tiny_generator, size=TINY_SIZE)
        assert torch.get_num_threads() == 2, "restored after the run"
    finally:
        torch.set_num_threads(threads)
    assert {name for name, _ in seen} == {"encode", "decode", "blend"}
    assert all(count == (1 if name == "blend" else 2) for name, count in seen)


def test_cudnn_times_its_algorithms_during_a_run_and_not_after(tiny_generator, monkeypatch):
    seen = []
    encode = tiny_generator.encode
    monkeypatch.setattr(tiny_generator, "encode", lambda batch: seen.append(torch.backends.cudnn.benchmark) or encode(batch))
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    frames = make_frames(6, 40, 24)
    inpaint_frames(frames, np.repeat(box_mask(40, 24, 10, 5, 20, 15)[None], 6, axis=0), tiny_generator, size=TINY_SIZE)
    assert seen and all(seen)
    assert torch.backends.cudnn.benchmark is False, "restored after the run"


def test_a_run_keeps_freed_host_memory_for_its_next_frames(tiny_generator, monkeypatch):
    calls = []
    monkeypatch.setattr(runner, "keep_freed_host_memory", lambda: calls.append("kept"))
    frames = make_frames(3, 40, 24)
    inpaint_frames(frames, np.repeat(box_mask(40, 24, 10, 5, 20, 15)[None], 3, axis=0), tiny_generator, size=TINY_SIZE)
    assert calls == ["kept"]


# shrinking; a crop growing in x, shrinking in y; the release protocol
ACCELERATOR_CASES = [("native", 150, 90), ("native", 40, 90), ("release", 90, 50)]


def clip_with_holes(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """12 frames with a block hole and a thin line across the frame."""
    frames = make_frames(12, width, height, seed=5)
    masks = np.repeat(box_mask(width, height, width // 4, height // 3, width // 2, height // 2)[None], 12, axis=0)
    masks[:, height - 9, :] = 1
    return frames, masks


def assert_inpainted_alike(result: np.ndarray, expected: np.ndarray, masks: np.ndarray, protocol: str) -> None:
    """An accelerator's result against OpenCV and PIL's: untouched pixels as they were, holes close."""
    if protocol == "native":  # untouched pixels are the input's, whichever kernels run
        holes = dilated(masks[0])
        assert np.array_equal(result[:, ~holes], expected[:, ~holes])
    else:  # the frame resized by torch's bicubic instead of PIL's: within a grey level
        holes = working_holes(masks, TINY_SIZE)[0].astype(bool)
        assert np.abs(result[:, ~holes].astype(int) - expected[:, ~holes]).max() <= 1
    difference = np.abs(result[:, holes].astype(int) - expected[:, holes])
    assert difference.mean() <= 0.5 and difference.max() <= 8  # a grey level off in an input moves the prediction a little


@pytest.mark.parametrize("protocol, width, height", ACCELERATOR_CASES)
def test_the_accelerators_torch_kernels_inpaint_as_opencv_and_pil_do(tiny_generator, monkeypatch, protocol, width, height):
    frames, masks = clip_with_holes(width, height)
    options = dict(size=TINY_SIZE, protocol=protocol, precision="fp32")
    opencv = inpaint_frames(frames, masks, tiny_generator, **options)

    def unavailable(*args, **kwargs):
        raise AssertionError("OpenCV or PIL was called while the torch kernels should run")

    for module, name in ((cv2, "resize"), (cv2, "dilate"), (Image, "fromarray")):
        monkeypatch.setattr(module, name, unavailable)
    with torch_kernels():
        on_accelerator = inpaint_frames(frames, masks, tiny_generator, **options)
    monkeypatch.undo()
    assert_inpainted_alike(on_accelerator, opencv, masks, protocol)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (CI has none; run on a GPU machine)")
@pytest.mark.parametrize("protocol, width, height", ACCELERATOR_CASES)
def test_on_cuda_the_pipeline_inpaints_as_on_the_cpu(tiny_generator, monkeypatch, protocol, width, height):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # fp32 convolutions and matmuls in fp32, as on the CPU
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    frames, masks = clip_with_holes(width, height)
    options = dict(size=TINY_SIZE, protocol=protocol, precision="fp32")
    on_cpu = inpaint_frames(frames, masks, tiny_generator, device="cpu", **options)
    assert_inpainted_alike(inpaint_frames(frames, masks, tiny_generator, device="cuda", **options), on_cpu, masks, protocol)


def test_read_only_clips_are_inpainted_without_warnings(tiny_generator, recwarn):
    frames = make_frames(6, 40, 24)
    masks = np.repeat(box_mask(40, 24, 10, 5, 20, 15)[None], 6, axis=0)
    expected = inpaint_frames(frames, masks, tiny_generator, size=TINY_SIZE)
    frames.setflags(write=False)
    masks.setflags(write=False)
    assert np.array_equal(inpaint_frames(frames, masks, tiny_generator, size=TINY_SIZE), expected)
    assert not [warning for warning in recwarn if "not writable" in str(warning.message)]
