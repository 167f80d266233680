"""Window selection, when frames are final, and blending against hand-computed values (reference section 4)."""

import numpy as np
import pytest
import torch

from sttn_lightning.inference.options import InpaintOptions
from sttn_lightning.inference.plan import crops_by_frame, make_plan
from sttn_lightning.inference.roi import Box
from sttn_lightning.inference.windows import Window, blend, neighbour_indices, plan_windows, reference_indices
from sttn_lightning.media import Size


def test_release_windows_of_a_12_frame_video():
    assert plan_windows(12, neighbour_stride=5, reference_stride=10) == [
        Window(0, (0, 1, 2, 3, 4, 5), (10,)),
        Window(5, (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), ()),
        Window(10, (5, 6, 7, 8, 9, 10, 11), (0,)),
    ]


def test_window_frames_are_neighbours_then_references():
    assert Window(10, (9, 10, 11), (0, 20)).frames == (9, 10, 11, 0, 20)


def test_one_frame_video_has_one_window_without_references():
    assert plan_windows(1) == [Window(0, (0,), ())]


def test_neighbours_are_clipped_at_both_ends():
    assert neighbour_indices(2, 4, 3) == (0, 1, 2, 3)
    assert neighbour_indices(6, 20, 2) == (4, 5, 6, 7, 8)


def test_references_exclude_neighbours_and_cap_keeps_the_nearest():
    neighbours = tuple(range(45, 56))
    assert reference_indices(50, 120, neighbours, 10) == (0, 10, 20, 30, 40, 60, 70, 80, 90, 100, 110)
    # distances to 50: 40 and 60 -> 10, 30 and 70 -> 20; the earlier frame wins the tie
    assert reference_indices(50, 120, neighbours, 10, max_references=3) == (30, 40, 60)
    assert reference_indices(50, 120, neighbours, 10, max_references=0) == ()


def test_each_frame_is_final_after_the_last_window_that_predicts_it():
    steps = make_plan([Box(0, 0, 1, 1)] * 12, Size(8, 8), InpaintOptions(size=(8, 8), protocol="release"))
    assert [step.finishes for step in steps] == [(), (0, 1, 2, 3, 4), (5, 6, 7, 8, 9, 10, 11)]


def test_a_frame_has_the_crop_of_each_segment_whose_running_windows_read_it():
    # windows centred on 0, 5, 10, 15; only the last predicts frames with holes (17-19): it reads 10-19 and reference 0
    holes = [None] * 17 + [Box(20, 20, 30, 30)] * 3
    steps = make_plan(holes, Size(64, 64), InpaintOptions(size=(16, 16)))
    assert [step.runs for step in steps] == [False, False, False, True]
    assert crops_by_frame(steps) == {index: {0: steps[3].crop} for index in (0, *range(10, 20))}
    # segments of 10 frames: windows 0 and 5 (frames 0-10) share one crop, windows 10 and 15 (frames 5-19) another
    holes = [Box(0, 0, 8, 8)] * 5 + [Box(100, 100, 110, 110)] * 15
    steps = make_plan(holes, Size(256, 256), InpaintOptions(size=(16, 16), crop_segment=10))
    crops = crops_by_frame(steps)
    first, second = steps[0].crop, steps[3].crop
    assert first != second and steps[1].crop == first and steps[2].crop == second
    assert crops[0] == {0: first, 1: second}  # a neighbour in segment 0, the reference of segment 1's windows
    assert crops[3] == {0: first} and crops[7] == {0: first, 1: second} and crops[19] == {1: second}


def test_bad_window_parameters_are_rejected():
    with pytest.raises(ValueError, match="num_frames"):
        plan_windows(0)
    with pytest.raises(ValueError, match="max_references"):
        plan_windows(10, max_references=-1)


def test_blend_is_the_release_running_average():
    first = blend(None, torch.tensor([10], dtype=torch.uint8))
    assert first.dtype == torch.float32 and first.tolist() == [10.0]
    second = blend(first, torch.tensor([20], dtype=torch.uint8))
    assert second.tolist() == [15.0]
    assert blend(second, torch.tensor([40], dtype=torch.uint8)).tolist() == [27.5]
    assert second.tolist() == [27.5], "the running average is updated in place"


def test_blend_equals_the_release_formula_for_every_whole_value():
    values = np.arange(256, dtype=np.float32)
    first, second = (array.ravel() for array in np.meshgrid(values, values))  # every pair of window results
    third = np.random.default_rng(0).integers(0, 256, first.size).astype(np.float32)
    expected = np.float32(0.5) * first + np.float32(0.5) * second  # the release's float32 arithmetic
    blended = blend(blend(None, torch.from_numpy(first)), torch.from_numpy(second))
    np.testing.assert_array_equal(blended.numpy(), expected)
    expected = np.float32(0.5) * expected + np.float32(0.5) * third
    np.testing.assert_array_equal(blend(blended, torch.from_numpy(third)).numpy(), expected)
