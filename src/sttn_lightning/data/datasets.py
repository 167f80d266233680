"""Map-style datasets turning a video collection and masks into the batch dicts of the shared interface."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from sttn_lightning.data.sampling import sample_frame_indices, sample_generator
from sttn_lightning.data.transforms import ClipTransform
from sttn_lightning.media import MaskSet, Size, VideoCollection
from sttn_lightning.media.blobs import random_video_masks
from sttn_lightning.protocol import resize_frame, resize_masks, to_model_input

SampleKey = int | tuple[int, int]


def _sample(video_id: str, indices: np.ndarray, frames: np.ndarray, masks: np.ndarray) -> dict[str, Any]:
    return {
        "frames": to_model_input(np.ascontiguousarray(frames)),
        "masks": torch.from_numpy(np.ascontiguousarray(masks)).float().unsqueeze(1),
        "video_id": video_id,
        "frame_indices": torch.as_tensor(indices, dtype=torch.long),
    }


class RandomClipDataset(Dataset):
    """One random clip with a random blob mask per (video, repeat), as the release trains.

    Item keys are an index or (epoch, index) from EpochShuffleSampler; every random choice
    (frames, mask, augmentation) derives from (seed, stream, epoch, index), so a resumed run or
    any worker reproduces the same sample.
    """

    def __init__(
        self,
        collection: VideoCollection,
        video_ids: Sequence[str],
        transform: ClipTransform,
        clip_length: int = 5,
        p_random_frames: float = 0.5,
        p_stationary_mask: float = 0.5,
        samples_per_video: int = 1,
        seed: int = 0,
        stream: int = 0,
    ):
        self.collection = collection
        self.video_ids = list(video_ids)
        self.transform = transform
        self.clip_length = clip_length
        self.p_random_frames = p_random_frames
        self.p_stationary_mask = p_stationary_mask
        self.samples_per_video = samples_per_video
        self.seed = seed
        self.stream = stream

    def __len__(self) -> int:
        return len(self.video_ids) * self.samples_per_video

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = sample_generator(self.seed, self.stream, epoch, index)
        video_id = self.video_ids[index % len(self.video_ids)]
        indices = sample_frame_indices(rng, self.collection.num_frames(video_id), self.clip_length, self.p_random_frames)
        frames = self.transform(self.collection.read(video_id, indices), seed=int(rng.integers(2**31)))
        size = self.transform.size
        masks = random_video_masks(rng, self.clip_length, size.height, size.width, p_stationary=self.p_stationary_mask)
        return _sample(video_id, indices, frames, masks)


class FixedMaskClipDataset(Dataset):
    """Validation clips: one seeded clip per (video, repeat) with the test set's fixed masks.

    Frames and masks go to the training size by the protocol's rules (the release's bicubic and
    nearest), so every validation in every run scores the same clips under the same holes.
    """

    def __init__(
        self,
        collection: VideoCollection,
        video_ids: Sequence[str],
        mask_set: MaskSet,
        size: Size,
        clip_length: int = 5,
        p_random_frames: float = 0.5,
        seed: int = 0,
        stream: int = 1,
    ):
        self.collection = collection
        self.video_ids = list(video_ids)
        self.mask_set = mask_set
        self.size = size
        self.clip_length = clip_length
        self.p_random_frames = p_random_frames
        self.seed = seed
        self.stream = stream

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
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)

    def __iter__(self):
        return ((self.epoch, index) for index in super().__iter__())
