"""The LightningDataModule: config in, video collections / datasets / dataloaders out, checked at setup()."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.trainer.states import TrainerFn
from torch.utils.data import DataLoader, Dataset

from sttn_lightning.data.datasets import EpochShuffleSampler, FixedMaskClipDataset, RandomClipDataset
from sttn_lightning.data.demo import generate_demo_dataset
from sttn_lightning.data.errors import DataError
from sttn_lightning.data.sampling import BAD_SAMPLE_POLICIES, SHORT_VIDEO_POLICIES, TRAIN_STREAM, VAL_STREAM
from sttn_lightning.data.transforms import RELEASE_AUGMENTATIONS, ClipTransform
from sttn_lightning.media import Size, VideoCollection, open_eval_set

log = logging.getLogger(__name__)


class VideoInpaintingDataModule(LightningDataModule):
    """Clips and masks for STTN training (random clips, random blobs) and validation (one seeded clip
    per video of the evaluation split, with the fixed evaluation masks that ``sttn-evaluate`` uses).

    `batch_size` is global: each of the trainer's `world_size` processes loads batch_size / world_size.
    `on_bad_sample` ('skip' or 'error') governs training clips whose frames cannot be read (see
    RandomClipDataset); validation data always raises, its metrics cover every video.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        layout: str = "auto",
        frames_dir: str = "JPEGImages",
        train_split: str | None = "train",
        eval_split: str | None = "test",
        train_list: str | os.PathLike | None = None,
        eval_list: str | os.PathLike | None = None,
        num_frames: int = 5,
        height: int = 240,
        width: int = 432,
        p_random_frames: float = 0.5,
        p_stationary_mask: float = 0.5,
        samples_per_video: int = 1,
        short_video: str = "error",
        on_bad_sample: str = "skip",
        augmentations: Sequence[Mapping[str, Any]] = RELEASE_AUGMENTATIONS,
        frame_resize: str = "release",
        eval_masks: str = "auto",
        eval_mask_root: str | os.PathLike | None = None,
        eval_mask_seed: int = 0,
        eval_mask_box: Sequence[float] = (0.5, 0.5),
        cache_dir: str | os.PathLike | None = None,
        demo: Mapping[str, Any] | None = None,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        if short_video not in SHORT_VIDEO_POLICIES:
            raise DataError(f"data.short_video: expected one of {SHORT_VIDEO_POLICIES}, found {short_video!r}")
        if on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise DataError(f"data.on_bad_sample: expected one of {BAD_SAMPLE_POLICIES}, found {on_bad_sample!r}")
        self.root = Path(root)
        self.layout = layout
        self.frames_dir = frames_dir
        self.train_split = train_split
        self.eval_split = eval_split
        self.train_list = train_list
        self.eval_list = eval_list
        self.num_frames = int(num_frames)
        self.height, self.width = int(height), int(width)
        self.p_random_frames = float(p_random_frames)
        self.p_stationary_mask = float(p_stationary_mask)
        self.samples_per_video = int(samples_per_video)
        self.short_video = short_video
        self.on_bad_sample = on_bad_sample
        self.augmentations = list(augmentations)
        self.frame_resize = frame_resize
        self.eval_masks = eval_masks
        self.eval_mask_root = eval_mask_root
        self.eval_mask_seed = int(eval_mask_seed)
        self.eval_mask_box = tuple(eval_mask_box)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else self.root / ".cache"
        self.demo = dict(demo) if demo is not None else None
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size) if eval_batch_size is not None else None
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.seed = int(seed)
        self.epoch = 0
        self.batches_done = 0  # training batches of `epoch` a resumed run must not draw again
        self.device_batch_size = self.batch_size
        self.device_eval_batch_size = self.eval_batch_size or self.batch_size
        self.datasets: dict[str, Dataset] = {}
        self._train_sampler: EpochShuffleSampler | None = None

    def prepare_data(self) -> None:
        """Write the demo dataset once (Lightning runs this on one process per node before setup)."""
        if self.demo is not None:
            generate_demo_dataset(self.root, **self.demo)

    @property
    def _world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 1, 0
        return int(self.trainer.world_size), int(self.trainer.global_rank)

    def _per_device(self, global_batch: int, name: str) -> int:
        world_size, _ = self._world
        if global_batch % world_size:
            raise DataError(
                f"data.{name}: expected a global batch size divisible by the {world_size} devices "
                f"(trainer.world_size), found {global_batch}"
            )
        return global_batch // world_size

    def _clip_videos(self, source: VideoCollection) -> list[str]:
        """Video ids long enough for a clip, after applying the short_video policy."""
        short = {v: source.num_frames(v) for v in source.video_ids if source.num_frames(v) < self.num_frames}
        if not short or self.short_video == "repeat":
            return list(source.video_ids)
        first = next(iter(short))
        if self.short_video == "error":
            raise DataError(
                f"{source.video_path(first)}: expected at least data.num_frames={self.num_frames} frames, found "
                f"{short[first]} ({len(short)} short videos); set data.short_video=repeat or skip"
            )
        log.warning("Skipping %d videos shorter than %d frames, e.g. %s", len(short), self.num_frames, source.video_path(first))
        kept = [v for v in source.video_ids if v not in short]
        if not kept:
            raise DataError(f"{source.location}: expected videos of at least {self.num_frames} frames, found none")
        return kept

    def setup(self, stage: str | None = None) -> None:
        """Build and check the datasets the stage needs: listings, counts, first-frame sizes, masks."""
        self.prepare_data()  # the demo dataset, if configured: Lightning ran prepare_data on one process per node only
        self.device_batch_size = self._per_device(self.batch_size, "batch_size")
        eval_batch = self.eval_batch_size if self.eval_batch_size is not None else self.batch_size
        self.device_eval_batch_size = self._per_device(eval_batch, "eval_batch_size")
        if stage in (None, "fit"):
            # the training videos, read with random access for scattered clips
            train = VideoCollection(self.root, self.layout, self.train_split, self.train_list, self.frames_dir, "random")
            train.validate()
            self.datasets["train"] = RandomClipDataset(
                train, self._clip_videos(train), ClipTransform(self.height, self.width, self.augmentations, self.frame_resize),
                self.num_frames, self.p_random_frames, self.p_stationary_mask, self.samples_per_video,
                self.seed, TRAIN_STREAM, self.on_bad_sample,
            )
            world_size, _ = self._world
            if len(self.datasets["train"]) < world_size:
                raise DataError(
                    f"{train.location}: expected at least one training clip per device ({world_size}), "
                    f"found {len(self.datasets['train'])}"
                )
        if stage in (None, "fit", "validate"):
            # the evaluation split with its fixed masks, as sttn-evaluate reads them
            val, mask_set = open_eval_set(
                self.root, self.layout, self.frames_dir, self.eval_split, self.eval_list, self.eval_masks,
                self.eval_mask_root, self.eval_mask_seed, self.eval_mask_box, self.cache_dir, access="random",
            )
            self.datasets["val"] = FixedMaskClipDataset(
                val, self._clip_videos(val), mask_set, Size(self.width, self.height),
                self.num_frames, self.p_random_frames, self.seed, VAL_STREAM,
            )

    def _loader(self, dataset: Dataset, batch_size: int, seed_offset: int, **kwargs: Any) -> DataLoader:
        # An own generator for the loader's worker base seed: iterating a loader then draws
        # nothing from torch's global stream, so validation and new epochs leave the training
        # run's global random state as it was, and a resumed run's stream matches.
        return DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            generator=torch.Generator().manual_seed(self.seed + seed_offset),
            **kwargs,
        )

    def _dataset(self, stage: str) -> Dataset:
        if stage not in self.datasets:
            raise DataError(f"data: expected setup() to have built the {stage} dataset, found none; call setup() first")
        return self.datasets[stage]

    def train_dataloader(self) -> DataLoader:
        world_size, rank = self._world
        self._train_sampler = EpochShuffleSampler(self._dataset("train"), world_size, rank, self.seed)
        self._train_sampler.set_epoch(self.epoch)
        self._resume_sampler()
        return self._loader(self.datasets["train"], self.device_batch_size, TRAIN_STREAM, sampler=self._train_sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._dataset("val"), self.device_eval_batch_size, VAL_STREAM, shuffle=False)

    def _resume_sampler(self) -> None:
        """Start the sampler after the batches of `epoch` a resumed run has trained on already."""
        if self._train_sampler is None or not self.batches_done:
            return
        sampler, batch_size = self._train_sampler, self.device_batch_size
        batches_per_epoch = -(-sampler.num_samples // batch_size)
        if self.batches_done >= batches_per_epoch:  # saved after an epoch's last batch: the next one starts
            self.epoch, self.batches_done = self.epoch + 1, 0
            sampler.set_epoch(self.epoch)
            return
        sampler.resume_at(self.epoch, self.batches_done * batch_size)
        self.batches_done = 0

    def _batches_done(self) -> int:
        """Training batches of the current epoch the trainer has run (0 outside training)."""
        trainer = self.trainer
        if trainer is None or getattr(trainer, "state", None) is None or trainer.state.fn != TrainerFn.FITTING:
            return 0
        return int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)

    def state_dict(self) -> dict[str, Any]:
        """Seed, epoch and position in the epoch of the training stream, so a resumed run draws the
        samples the interrupted one would have drawn next."""
        epoch = self._train_sampler.epoch if self._train_sampler is not None else self.epoch
        return {"seed": self.seed, "epoch": int(epoch), "batches_done": self._batches_done()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the training stream; works before or after setup() and train_dataloader()."""
        self.seed = int(state_dict["seed"])
        self.epoch = int(state_dict["epoch"])
        self.batches_done = int(state_dict.get("batches_done", 0))
        for dataset in self.datasets.values():
            if isinstance(dataset, RandomClipDataset):
                dataset.seed = self.seed
        if self._train_sampler is not None:
            self._train_sampler.seed = self.seed
            self._train_sampler.set_epoch(self.epoch)
            self._resume_sampler()
