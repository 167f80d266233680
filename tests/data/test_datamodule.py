"""The datamodule: batches of the shared interface from every layout, reproducible sampling,
DDP splits, batch-size division and the errors raised at setup()."""

import logging
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DistributedSampler

from sttn_lightning.data import DataError, EpochShuffleSampler, VideoInpaintingDataModule
from sttn_lightning.media import MediaError
from tests.data.conftest import COUNTS, write_mask_folders

SIZE = {"height": 24, "width": 32}


def _datamodule(root, tmp_path, **overrides):
    settings = {"num_frames": 4, "batch_size": 2, "cache_dir": tmp_path / "cache", **SIZE, **overrides}
    return VideoInpaintingDataModule(root, **settings)


def _check_batch(batch, batch_size, num_frames=4):
    frames, masks = batch["frames"], batch["masks"]
    assert frames.shape == (batch_size, num_frames, 3, 24, 32) and frames.dtype == torch.float32
    assert masks.shape == (batch_size, num_frames, 1, 24, 32) and masks.dtype == torch.float32
    assert frames.min() >= -1 and frames.max() <= 1 and frames.std() > 0
    assert set(masks.unique().tolist()) <= {0.0, 1.0} and masks.sum() > 0
    assert batch["frame_indices"].shape == (batch_size, num_frames) and batch["frame_indices"].dtype == torch.long
    assert len(batch["video_id"]) == batch_size and all(isinstance(v, str) for v in batch["video_id"])


@pytest.mark.parametrize("fixture", ["frames_root", "zip_root", "video_root"])
def test_batches_from_every_layout(request, tmp_path, fixture):
    datamodule = _datamodule(request.getfixturevalue(fixture), tmp_path)
    datamodule.setup()
    _check_batch(next(iter(datamodule.train_dataloader())), 2)
    _check_batch(next(iter(datamodule.val_dataloader())), 1 if fixture != "video_root" else 2)


def _first_batches(datamodule, epoch=None, count=2):
    loader = datamodule.train_dataloader()
    if epoch is not None:
        loader.sampler.set_epoch(epoch)
    batches = iter(loader)
    return [next(batches) for _ in range(count)]


def _assert_same(first, second):
    for a, b in zip(first, second):
        assert a["video_id"] == b["video_id"]
        torch.testing.assert_close(a["frame_indices"], b["frame_indices"])
        torch.testing.assert_close(a["frames"], b["frames"])
        torch.testing.assert_close(a["masks"], b["masks"])


def test_same_seed_same_clips_and_masks_even_with_workers(zip_root, tmp_path):
    single = _datamodule(zip_root, tmp_path, samples_per_video=2)
    single.setup("fit")
    workers = _datamodule(zip_root, tmp_path, samples_per_video=2, num_workers=2, persistent_workers=True)
    workers.setup("fit")
    _assert_same(_first_batches(single), _first_batches(workers))
    other_epoch = _first_batches(single, epoch=1)
    assert not torch.equal(other_epoch[0]["frames"], _first_batches(single, epoch=0)[0]["frames"])
    val_a, val_b = (next(iter(dm.val_dataloader())) for dm in (single, single))
    _assert_same([val_a], [val_b])


def test_resume_restores_the_sample_stream(frames_root, tmp_path):
    trained = _datamodule(frames_root, tmp_path)
    trained.setup("fit")
    expected = _first_batches(trained, epoch=3)
    state = trained.state_dict()
    assert state == {"seed": 0, "epoch": 3, "batches_done": 0}
    resumed = _datamodule(frames_root, tmp_path, seed=99)
    resumed.setup("fit")
    resumed.load_state_dict(state)
    _assert_same(_first_batches(resumed), expected)
    before_setup = _datamodule(frames_root, tmp_path, seed=99)
    before_setup.load_state_dict(state)
    before_setup.setup("fit")
    _assert_same(_first_batches(before_setup), expected)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_mid_epoch_continues_after_the_batches_already_trained(frames_root, tmp_path, num_workers):
    uninterrupted = _datamodule(frames_root, tmp_path, samples_per_video=3)
    uninterrupted.setup("fit")
    epoch_1 = _first_batches(uninterrupted, epoch=1, count=4)
    resumed = _datamodule(frames_root, tmp_path, samples_per_video=3, num_workers=num_workers)
    resumed.load_state_dict({"seed": 0, "epoch": 1, "batches_done": 2})
    resumed.setup("fit")
    loader = resumed.train_dataloader()
    assert len(loader) == len(uninterrupted.train_dataloader()), "Lightning counts the epoch's batches from len()"
    rest = list(loader)
    _assert_same(rest[:2], epoch_1[2:])
    # the skip applies once: the next pass over the epoch is whole again
    _assert_same(_first_batches(resumed, epoch=1, count=4), epoch_1)


def test_a_checkpoint_after_the_last_batch_of_an_epoch_resumes_at_the_next_epoch(frames_root, tmp_path):
    uninterrupted = _datamodule(frames_root, tmp_path, samples_per_video=3)
    uninterrupted.setup("fit")
    batches_per_epoch = len(uninterrupted.train_dataloader())
    resumed = _datamodule(frames_root, tmp_path, samples_per_video=3)
    resumed.setup("fit")
    resumed.load_state_dict({"seed": 0, "epoch": 1, "batches_done": batches_per_epoch})
    _assert_same(list(resumed.train_dataloader())[:1], _first_batches(uninterrupted, epoch=2, count=1))


def _fake_trainer(world_size, rank):
    return SimpleNamespace(world_size=world_size, global_rank=rank)


def test_ddp_ranks_split_the_training_data_without_overlap(frames_root, tmp_path):
    seen = []
    for rank in range(2):
        datamodule = _datamodule(frames_root, tmp_path, batch_size=4, samples_per_video=4)
        datamodule.trainer = _fake_trainer(2, rank)
        datamodule.setup("fit")
        loader = datamodule.train_dataloader()
        assert loader.batch_size == 2
        assert isinstance(loader.sampler, DistributedSampler), "Lightning keeps a DistributedSampler as is"
        seen.append([index for _, index in loader.sampler])
    assert len(seen[0]) == len(seen[1]) == 6
    assert not set(seen[0]) & set(seen[1])
    assert set(seen[0]) | set(seen[1]) == set(range(12))


def test_global_batch_must_divide_by_world_size(frames_root, tmp_path):
    datamodule = _datamodule(frames_root, tmp_path, batch_size=8)
    datamodule.trainer = _fake_trainer(3, 0)
    with pytest.raises(DataError, match=r"data.batch_size: expected a global batch size divisible by the 3 devices.*found 8"):
        datamodule.setup("fit")


def test_lightning_sets_the_epoch_of_the_sampler(frames_root, tmp_path):
    class Recorder(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.keys = []

        def training_step(self, batch, batch_idx):
            self.keys.append((self.current_epoch, batch["frame_indices"].tolist()))
            return (self.weight * batch["frames"].mean()).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    datamodule = _datamodule(frames_root, tmp_path, batch_size=3)
    module = Recorder()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(module, datamodule=datamodule)
    assert [epoch for epoch, _ in module.keys] == [0, 1]
    sampler = EpochShuffleSampler(datamodule.datasets["train"], seed=0)
    sampler.set_epoch(1)
    expected = datamodule.datasets["train"][next(iter(sampler))]["frame_indices"].tolist()
    assert expected in module.keys[1][1]
    assert datamodule.state_dict() == {"seed": 0, "epoch": 1, "batches_done": 1}  # the one batch of epoch 1 done


def test_short_videos_error_repeat_or_skip(frames_root, tmp_path, caplog):
    with pytest.raises(DataError, match=r"JPEGImages/a: expected at least data.num_frames=9 frames, found 8 \(2 short videos\)"):
        _datamodule(frames_root, tmp_path, num_frames=9).setup("fit")
    repeat = _datamodule(frames_root, tmp_path, num_frames=9, short_video="repeat", batch_size=3)
    repeat.setup("fit")
    assert repeat.datasets["train"].video_ids == ["a", "b", "c"]
    _check_batch(next(iter(repeat.train_dataloader())), 3, num_frames=9)
    skip = _datamodule(frames_root, tmp_path, num_frames=9, short_video="skip", batch_size=1)
    with caplog.at_level(logging.WARNING):
        skip.setup("fit")
    assert skip.datasets["train"].video_ids == ["b"]
    assert "Skipping 2 videos shorter than 9 frames" in caplog.text
    with pytest.raises(DataError, match="data.short_video: expected one of"):
        _datamodule(frames_root, tmp_path, short_video="crash")


def test_fixed_folder_masks_reach_the_validation_batches(frames_root, tmp_path):
    write_mask_folders(frames_root, {"d": COUNTS["d"]})
    datamodule = _datamodule(frames_root, tmp_path, eval_batch_size=3)
    datamodule.setup("validate")
    batches = list(datamodule.val_dataloader())
    assert len(batches) == 1 and batches[0]["video_id"] == ["d"]
    expected = torch.zeros(24, 32)
    expected[:12, :16] = 1  # the 48x64 folder masks, resized nearest to the training size, not dilated
    assert torch.equal(batches[0]["masks"][:, :, 0], expected.expand(1, 4, 24, 32))
    again = _datamodule(frames_root, tmp_path)
    again.setup("validate")
    _assert_same(batches, list(again.val_dataloader()))


def test_mask_folder_mismatch_is_found_at_setup(frames_root, tmp_path):
    write_mask_folders(frames_root, {"d": COUNTS["d"] + 1})
    with pytest.raises(MediaError, match=r"test_masks/d: expected 10 masks, one per frame of video 'd', found 11"):
        _datamodule(frames_root, tmp_path).setup("validate")


def test_generated_eval_masks_are_shared_between_runs(video_root, tmp_path):
    first = _datamodule(video_root, tmp_path, eval_masks="stationary", eval_mask_seed=4)
    first.setup("validate")
    again = _datamodule(video_root, tmp_path, eval_masks="stationary", eval_mask_seed=4)
    again.setup("validate")
    _assert_same(list(first.val_dataloader()), list(again.val_dataloader()))
    assert (tmp_path / "cache" / "masks" / "videos" / "stationary_seed4" / "48x64").is_dir()


def test_bad_input_is_reported_at_setup(frames_root, tmp_path):
    (frames_root / "test.json").write_text('{"d": 10, "gone": 3}')
    with pytest.raises(MediaError, match=r"test.json: lists video 'gone'"):
        _datamodule(frames_root, tmp_path).setup("validate")
    with pytest.raises(MediaError, match="missing: expected a dataset folder, found nothing there"):
        _datamodule(tmp_path / "missing", tmp_path).setup("fit")
    with pytest.raises(DataError, match="expected setup\\(\\) to have built the train dataset"):
        _datamodule(frames_root, tmp_path).train_dataloader()
