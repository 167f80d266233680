"""Map-style datasets turning a video collection and masks into the batch dicts of the shared interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from sttn_lightning.data.errors import DataError
from sttn_lightning.data.sampling import BAD_SAMPLE_POLICIES, sample_frame_indices, sample_generator
from sttn_lightning.data.transforms import ClipTransform
from sttn_lightning.errors import InputError
from sttn_lightning.media import MaskSet, Size, VideoCollection
from sttn_lightning.media.blobs import random_video_masks
from sttn_lightning.protocol import resize_frame, resize_masks, to_model_input

SampleKey = int | tuple[int, int]
# how many other clips a training sample tries after an unreadable one before the run stops:
# a few bad files are skipped, a dataset that has gone missing as a whole is not
MAX_REPLACEMENTS = 16
# the batch key that carries the read errors a training sample skipped, one message per line
SKIPPED_KEY = "skipped"


def _sample(video_id: str, indices: np.ndarray, frames: np.ndarray, masks: np.ndarray) -> dict[str, Any]:
    return {
        "frames": to_model_input(np.ascontiguousarray(frames)),
        "masks": torch.from_numpy(np.ascontiguousarray(masks)).float().unsqueeze(1),
        "video_id": video_id,
        "frame_indices": torch.as_tensor(indices, dtype=torch.long),
    }


@dataclass(eq=False)
class RandomClipDataset(Dataset):
    """One random clip with a random blob mask per (video, repeat), as the release trains.

    Item keys are an index or (epoch, index) from EpochShuffleSampler; every random choice
    (frames, mask, augmentation) derives from (seed, stream, epoch, index), so a resumed run or
    any worker reproduces the same sample.

    ``on_bad_sample`` says what a frame read that fails with the package's input error (an
    undecodable frame, a frame gone since setup) does: ``error`` raises it (its message names
    the path); ``skip`` replaces the sample by another clip drawn from the same stream (so the
    replacement is reproducible too) and reports the skipped read in the sample's ``skipped``
    entry (one message per line, empty when nothing was skipped), which the training module
    logs and counts.
    """

    collection: VideoCollection
    video_ids: list[str]
    transform: ClipTransform
    clip_length: int = 5
    p_random_frames: float = 0.5
    p_stationary_mask: float = 0.5
    samples_per_video: int = 1
    seed: int = 0
    stream: int = 0
    on_bad_sample: str = "error"

    def __post_init__(self) -> None:
        if self.on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise DataError(f"data.on_bad_sample: expected one of {BAD_SAMPLE_POLICIES}, found {self.on_bad_sample!r}")

    def __len__(self) -> int:
        return len(self.video_ids) * self.samples_per_video

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = sample_generator(self.seed, self.stream, epoch, index)
        skipped: list[str] = []
        video_index = index % len(self.video_ids)
        while True:
            video_id = self.video_ids[video_index]
            try:  # only the reads: a bad setting (e.g. the augmentation) is not a bad sample
                indices = sample_frame_indices(
                    rng, self.collection.num_frames(video_id), self.clip_length, self.p_random_frames
                )
                frames = self.collection.read(video_id, indices)
                break
            except InputError as error:
                if self.on_bad_sample == "error":
                    raise
                skipped.append(" ".join(str(error).splitlines()))
                if len(skipped) > MAX_REPLACEMENTS:
                    raise DataError(
                        f"data.on_bad_sample=skip: expected a readable clip within {MAX_REPLACEMENTS} replacements, "
                        f"found {len(skipped)} unreadable ones in a row; the last: {skipped[-1]}"
                    ) from error
                video_index = self._replacement(rng, video_index)
        frames = self.transform(frames, seed=int(rng.integers(2**31)))
        size = self.transform.size
        masks = random_video_masks(rng, self.clip_length, size.height, size.width, p_stationary=self.p_stationary_mask)
        sample = _sample(video_id, indices, frames, masks)
        if self.on_bad_sample == "skip":
            sample[SKIPPED_KEY] = "\n".join(skipped)
        return sample

    def _replacement(self, rng: np.random.Generator, video_index: int) -> int:
        """Another video than the one that failed, drawn from the sample's stream."""
        count = len(self.video_ids)
        if count == 1:
            return video_index
        return (video_index + 1 + int(rng.integers(count - 1))) % count


@dataclass(eq=False)
class FixedMaskClipDataset(Dataset):
    """Validation clips: one seeded clip per (video, repeat) with the test set's fixed masks.

    Frames and masks go to the training size by the protocol's rules (the release's bicubic and
    nearest), so every validation in every run scores the same clips under the same holes.
    """

    collection: VideoCollection
    video_ids: list[str]
    mask_set: MaskSet
    size: Size
    clip_length: int = 5
    p_random_frames: float = 0.5
    seed: int = 0
    stream: int = 1

    def __len__(self) -> int:
        return len(self.video_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = sample_generator(self.seed, self.stream, 0, index)
        video_id = self.video_ids[index]
        num_frames = self.collection.num_frames(video_id)
        indices = sample_frame_indices(rng, num_frames, self.clip_length, self.p_random_frames)
        frames = np.stack([resize_frame(frame, self.size) for frame in self.collection.read(video_id, indices)])
        masks = self.mask_set.reader(video_id, num_frames, self.collection.frame_size(video_id)).read(indices.tolist())
        return _sample(video_id, indices, frames, resize_masks(np.stack(masks), self.size))


class EpochShuffleSampler(DistributedSampler):
    """Shuffles per epoch, splits across ranks without overlap (tail dropped), yields (epoch, index).

    Handing the epoch to the dataset in the key keeps samples a function of (seed, epoch, index)
    even in persistent workers, which never see attribute changes made in the main process.
    Lightning calls set_epoch every epoch (also after resuming) and, as this is a
    DistributedSampler, does not replace it under DDP.

    ``resume_at(epoch, consumed)`` makes the next pass over ``epoch`` start after its first
    ``consumed`` indices: a run resumed in the middle of an epoch draws the samples the
    interrupted run had not trained on yet, not the epoch's first ones again.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self._resume: tuple[int, int] | None = None

    def resume_at(self, epoch: int, consumed: int) -> None:
        """Skip the first ``consumed`` indices of ``epoch`` on the next pass (once)."""
        if not 0 <= consumed <= self.num_samples:
            raise ValueError(f"consumed must lie in [0, {self.num_samples}], got {consumed}")
        self._resume = (epoch, consumed)
        self.set_epoch(epoch)

    def __iter__(self):
        indices = list(super().__iter__())
        if self._resume is not None:
            epoch, consumed = self._resume
            self._resume = None
            if epoch == self.epoch:
                indices = indices[consumed:]
        return ((self.epoch, index) for index in indices)
