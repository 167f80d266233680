"""Mask readers and fixed mask sets: holes decoded one way everywhere, counts and aspect checked up front,
generated sets written once and read back."""

import cv2
import numpy as np
import pytest

from sttn_lightning.media import (
    ArrayMasks,
    MediaError,
    Size,
    VideoCollection,
    build_mask_set,
    check_masks,
    open_masks,
    write_mask_folder,
)
from sttn_lightning.media.images import to_holes
from sttn_lightning.media.masks import BoxMaskSet, FolderMasks, FolderMaskSet, GeneratedMaskSet, SingleMask
from sttn_lightning.protocol import resize_masks, working_holes
from tests.data.conftest import COUNTS, HEIGHT, WIDTH, write_mask_folders
from tests.inference.conftest import box_mask, write_mask


def test_any_non_zero_colour_channel_is_hole_and_alpha_is_ignored():
    image = np.zeros((2, 3, 4), np.uint8)
    image[0, 0, 2] = 1  # one colour channel just above zero
    image[1, 1, 3] = 255  # alpha only
    np.testing.assert_array_equal(to_holes(image), [[1, 0, 0], [0, 0, 0]])
    grey_alpha = np.zeros((2, 2, 2), np.uint8)
    grey_alpha[0, 1, 0], grey_alpha[1, 0, 1] = 3, 255
    np.testing.assert_array_equal(to_holes(grey_alpha), [[0, 1], [0, 0]])
    np.testing.assert_array_equal(to_holes(np.array([[0, 9]], np.uint8)), [[0, 1]])


def test_folder_masks_binarise_any_positive_value(tmp_path):
    folder = tmp_path / "masks" / "v"
    folder.mkdir(parents=True)
    image = np.zeros((4, 5, 3), np.uint8)
    image[1, 2, 2] = 1
    cv2.imwrite(str(folder / "00000.png"), image)
    reader = FolderMasks(folder)
    assert (reader.count, reader.size) == (1, Size(5, 4))
    expected = np.zeros((4, 5), np.uint8)
    expected[1, 2] = 1
    (mask,) = reader.read([0])
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, expected)


def test_past_the_last_mask_the_last_one_repeats(tmp_path):
    write_mask(tmp_path / "m" / "0.png", box_mask(4, 2, 0, 0, 1, 1))
    write_mask(tmp_path / "m" / "1.png", box_mask(4, 2, 3, 1, 4, 2))
    reader = open_masks(tmp_path / "m")
    assert isinstance(reader, FolderMasks)
    read = reader.read([0, 1, 2, 5])
    for mask, expected in zip(read, [box_mask(4, 2, 0, 0, 1, 1)] + [box_mask(4, 2, 3, 1, 4, 2)] * 3):
        np.testing.assert_array_equal(mask, expected)


def test_repeated_last_mask_at_the_working_size(tmp_path):
    write_mask(tmp_path / "m" / "0.png", box_mask(4, 2, 0, 0, 1, 1))
    write_mask(tmp_path / "m" / "1.png", box_mask(4, 2, 3, 1, 4, 2))
    reader = check_masks(open_masks(tmp_path / "m"), 3, Size(8, 4), "clip.mp4", mask_repeat="last")
    last = resize_masks(np.stack(reader.read([2])), Size(8, 4))[0]
    np.testing.assert_array_equal(last, box_mask(8, 4, 6, 2, 8, 4))


def test_masks_of_another_size_within_a_folder_are_refused(tmp_path):
    write_mask(tmp_path / "m" / "0.png", np.zeros((4, 6), np.uint8))
    write_mask(tmp_path / "m" / "1.png", np.zeros((4, 5), np.uint8))
    reader = FolderMasks(tmp_path / "m")
    with pytest.raises(MediaError, match=r"m/1.png: expected a mask of 6x4 like 0.png, found 5x4; give every mask one size"):
        reader.read([0, 1])


def test_single_mask_image_holds_for_every_frame(tmp_path):
    mask = box_mask(6, 4, 1, 1, 3, 2)
    reader = open_masks(write_mask(tmp_path / "hole.png", mask))
    assert isinstance(reader, SingleMask)
    assert (reader.count, reader.size) == (None, Size(6, 4))
    assert len(reader.read([0, 7, 99])) == 3
    for read in reader.read([0, 7, 99]):
        np.testing.assert_array_equal(read, mask)


def test_array_masks_binarise_and_check_their_layout():
    masks = np.zeros((2, 3, 4), np.float32)
    masks[1, 2, 3] = 0.5
    reader = ArrayMasks(masks)
    assert (reader.count, reader.size, str(reader.path)) == (2, Size(4, 3), "<masks in memory>")
    first, second = reader.read([0, 1])
    assert first.dtype == np.uint8 and first.sum() == 0
    np.testing.assert_array_equal(second, box_mask(4, 3, 3, 2, 4, 3))
    with pytest.raises(MediaError, match=r"masks: expected a \(T, H, W\) array with T >= 1, found shape \(3, 4\)"):
        ArrayMasks(masks[0])
    with pytest.raises(MediaError, match=r"found shape \(0, 3, 4\)"):
        ArrayMasks(masks[:0])


def test_centred_box_reader():
    reader = BoxMaskSet((0.5, 0.5)).reader("any", 3, Size(6, 4))
    expected = np.zeros((4, 6), np.uint8)
    expected[1:3, 1:4] = 1
    assert (reader.count, reader.size) == (None, Size(6, 4))
    np.testing.assert_array_equal(np.stack(reader.read([0, 2])), np.stack([expected, expected]))
    np.testing.assert_array_equal(BoxMaskSet((0.5, 0.5)).reader("any", 3, Size(6, 4)).read([1])[0], expected)


def test_missing_masks_name_the_path(tmp_path):
    with pytest.raises(MediaError, match=r"nowhere: expected a mask image, folder of masks or mask video, found nothing there"):
        open_masks(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match=r"empty: expected a folder of mask images, found no image files"):
        open_masks(tmp_path / "empty")


def _folder_of(tmp_path, count, width=8, height=8):
    for index in range(count):
        write_mask(tmp_path / "m" / f"{index}.png", np.zeros((height, width), np.uint8))
    return open_masks(tmp_path / "m")


def test_fewer_masks_than_frames_need_mask_repeat_last(tmp_path):
    masks = _folder_of(tmp_path, 2)
    with pytest.raises(MediaError, match=r"m: expected 3 masks, one per frame of clip.mp4, found 2; pass mask_repeat=last"):
        check_masks(masks, 3, Size(8, 8), "clip.mp4")
    assert check_masks(masks, 3, Size(8, 8), "clip.mp4", mask_repeat="last") is masks
    assert check_masks(masks, 2, Size(8, 8), "clip.mp4") is masks


def test_mask_folder_with_more_masks_than_frames_is_an_error_even_when_repeating(tmp_path):
    masks = _folder_of(tmp_path, 5)
    with pytest.raises(MediaError, match=r"expected 3 masks, one per frame of clip.mp4, found 5; remove the extra masks"):
        check_masks(masks, 3, Size(8, 8), "clip.mp4", mask_repeat="last")


def test_masks_of_another_aspect_are_refused_and_a_scaled_copy_is_not(tmp_path):
    masks = _folder_of(tmp_path, 1, width=32, height=24)
    assert check_masks(masks, 1, Size(64, 48), "clip.mp4") is masks
    assert check_masks(masks, 1, Size(63, 47), "clip.mp4") is masks, "63x47 halved and rounded: 0.5% off, within 1%"
    with pytest.raises(MediaError, match=r"expected masks of 63x48"):
        check_masks(masks, 1, Size(63, 48), "clip.mp4")  # 1.6% off
    with pytest.raises(
        MediaError, match=r"m: expected masks of 64x40 \(or the same aspect ratio\) like the frames of clip.mp4, found 32x24"
    ):
        check_masks(masks, 1, Size(64, 40), "clip.mp4")


def test_single_mask_is_checked_for_aspect_only(tmp_path):
    reader = open_masks(write_mask(tmp_path / "hole.png", np.zeros((4, 6), np.uint8)))
    assert check_masks(reader, 100, Size(12, 8), "clip.mp4") is reader
    with pytest.raises(MediaError, match=r"hole.png: expected masks of 8x8"):
        check_masks(reader, 100, Size(8, 8), "clip.mp4")


def test_unknown_mask_repeat(tmp_path):
    with pytest.raises(MediaError, match=r"mask_repeat: expected one of \('error', 'last'\), found 'loop'"):
        check_masks(_folder_of(tmp_path, 1), 1, Size(8, 8), "clip.mp4", mask_repeat="loop")


def test_generated_set_is_written_once_and_read_back(tmp_path):
    size = Size(54, 30)
    mask_set = GeneratedMaskSet(tmp_path / "cache", "moving", seed=5)
    first = np.stack(mask_set.reader("clip", 6, size).read(range(6)))
    assert first.shape == (6, 30, 54) and first.sum() > 0
    folder = mask_set.folder("clip", size)
    assert folder == tmp_path / "cache" / "moving_seed5" / "30x54" / "clip"
    assert sorted(p.name for p in folder.iterdir()) == [f"{t:05d}.png" for t in range(6)]
    assert list(folder.parent.iterdir()) == [folder]
    again = GeneratedMaskSet(tmp_path / "cache", "moving", seed=5).reader("clip", 6, size)
    np.testing.assert_array_equal(np.stack(again.read(range(6))), first)
    np.testing.assert_array_equal(np.stack(mask_set.reader("clip", 6, size).read([1, 4])), first[[1, 4]])
    cv2.imwrite(str(folder / "00002.png"), np.zeros((30, 54), np.uint8))
    assert mask_set.reader("clip", 6, size).read([2])[0].sum() == 0, "masks must come from disk once written"
    stationary = np.stack(GeneratedMaskSet(tmp_path / "cache", "stationary", seed=5).reader("clip", 6, size).read(range(6)))
    assert stationary.sum() > 0 and all(np.array_equal(stationary[0], m) for m in stationary)
    other_seed = np.stack(GeneratedMaskSet(tmp_path / "cache", "moving", seed=6).reader("clip", 6, size).read(range(6)))
    assert not np.array_equal(other_seed, first)


def test_generated_set_with_other_length_is_an_error(tmp_path):
    mask_set = GeneratedMaskSet(tmp_path, "moving", seed=0)
    mask_set.reader("clip", 4, Size(54, 30))
    with pytest.raises(MediaError, match=r"30x54/clip: expected 6 masks, one per frame of video 'clip', found 4"):
        mask_set.reader("clip", 6, Size(54, 30))


def test_generated_set_of_unknown_kind(tmp_path):
    with pytest.raises(MediaError, match=r"mask kind: expected 'stationary' or 'moving', found 'still'"):
        GeneratedMaskSet(tmp_path, "still")


def test_write_mask_folder_keeps_the_first_writer(tmp_path):
    ones = np.ones((2, 3, 4), np.uint8)
    write_mask_folder(tmp_path / "m", ones)
    write_mask_folder(tmp_path / "m", np.zeros_like(ones))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["00000.png", "00001.png"]
    assert (cv2.imread(str(tmp_path / "m" / "00000.png"), cv2.IMREAD_GRAYSCALE) == 255).all()


def test_write_mask_folder_leaves_nothing_when_it_fails(tmp_path, monkeypatch):
    written, imwrite = [], cv2.imwrite

    def imwrite_then_fail(path, image):
        if written:
            raise OSError(28, "No space left on device")
        written.append(path)
        return imwrite(path, image)  # the first mask reaches the temporary folder

    monkeypatch.setattr(cv2, "imwrite", imwrite_then_fail)
    with pytest.raises(OSError, match="No space left"):
        write_mask_folder(tmp_path / "m", np.ones((3, 2, 2), np.uint8))
    assert len(written) == 1 and list(tmp_path.iterdir()) == []


def test_folder_mask_set_validates_count_and_aspect(frames_root):
    write_mask_folders(frames_root, {"a": COUNTS["a"] - 1, "b": COUNTS["b"], "c": COUNTS["c"]})
    videos = VideoCollection(frames_root, split="train")
    with pytest.raises(MediaError, match=r"test_masks/a: expected 8 masks, one per frame of video 'a', found 7"):
        FolderMaskSet(frames_root / "test_masks").validate(videos)
    (frames_root / "test_masks" / "a" / "00000.png").unlink()
    write_mask_folders(frames_root / "resized", {"a": COUNTS["a"]}, HEIGHT // 2, WIDTH // 2)
    for path in (frames_root / "resized" / "test_masks" / "a").iterdir():
        path.replace(frames_root / "test_masks" / "a" / path.name)
    FolderMaskSet(frames_root / "test_masks").validate(videos)  # half size, same aspect: the protocol resizes them
    write_mask_folders(frames_root / "wide", {"a": COUNTS["a"]}, HEIGHT // 2, WIDTH)
    for path in (frames_root / "wide" / "test_masks" / "a").iterdir():
        path.replace(frames_root / "test_masks" / "a" / path.name)
    wrong_aspect = r"test_masks/a: expected masks of 64x48 \(or the same aspect ratio\) like the frames of video 'a', found 64x24"
    with pytest.raises(MediaError, match=wrong_aspect):
        FolderMaskSet(frames_root / "test_masks").validate(videos)


def test_missing_mask_folder(frames_root):
    videos = VideoCollection(frames_root, split="train")
    with pytest.raises(MediaError, match=r"test_masks/a: expected a folder of masks for video 'a', found nothing there"):
        build_mask_set("folder", frames_root).validate(videos)


def test_build_mask_set_by_name(frames_root, tmp_path):
    auto = build_mask_set("auto", frames_root)
    assert isinstance(auto, GeneratedMaskSet) and (auto.kind, auto.seed) == ("moving", 0)
    assert auto.cache_dir == frames_root / ".cache" / "masks" / "frames"
    cached = build_mask_set("stationary", frames_root, cache_dir=tmp_path / "cache", seed=3)
    assert (cached.kind, cached.seed, cached.cache_dir) == ("stationary", 3, tmp_path / "cache" / "masks" / "frames")
    assert build_mask_set("moving", frames_root, root=tmp_path / "mine").cache_dir == tmp_path / "mine"
    box = build_mask_set("box", frames_root, fraction=(0.25, 0.5))
    assert isinstance(box, BoxMaskSet) and box.fraction == (0.25, 0.5)
    write_mask_folders(frames_root, {"d": COUNTS["d"]})
    auto = build_mask_set("auto", frames_root)
    assert isinstance(auto, FolderMaskSet) and auto.root == frames_root / "test_masks"
    assert build_mask_set("folder", frames_root, root=tmp_path / "other").root == tmp_path / "other"


def test_unknown_mask_set_kind(tmp_path):
    kinds = r"\('auto', 'folder', 'box', 'stationary', 'moving'\)"
    with pytest.raises(MediaError, match=rf"eval_masks: expected one of {kinds}, found 'stripes'"):
        build_mask_set("stripes", tmp_path)


def test_whole_video_masks_at_the_working_size(frames_root):
    write_mask_folders(frames_root, {"d": COUNTS["d"]})
    videos = VideoCollection(frames_root, split="test")
    reader = FolderMaskSet(frames_root / "test_masks").reader("d", videos.num_frames("d"), videos.frame_size("d"))
    masks = working_holes(np.stack(reader.read(range(COUNTS["d"]))), Size(16, 12), dilation=1)
    expected = np.zeros((12, 16), np.uint8)
    expected[:6, :8] = 1  # the 24x32 top-left hole at quarter size
    expected[6, :8] = 1  # one cross dilation: a row below and a column to the right, corner excluded
    expected[:6, 8] = 1
    np.testing.assert_array_equal(masks, np.broadcast_to(expected, (COUNTS["d"], 12, 16)))
    np.testing.assert_array_equal(resize_masks(masks, Size(16, 12)), masks)
