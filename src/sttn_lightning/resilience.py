"""What a training run needs to survive interruption: whole checkpoints, exact resumes, preemption, SLURM requeues.

- ``AtomicCheckpointIO`` writes a checkpoint to a temporary file beside the target and renames it
  over the target only once it is complete and flushed to disk: a kill (SIGKILL, node failure,
  full disk) in the middle of ``torch.save`` leaves the previous version, never a truncated file.
  ``resolve_ckpt_path`` still checks each candidate (files written by other tools, or before this
  existed) and takes the newest one that loads.
- ``ResumeState`` puts into every checkpoint what Lightning's lacks for a resume that continues
  exactly as if the run had not stopped: the global random streams (Python, NumPy, torch) and
  the wandb run id, so the resumed run logs into the same wandb run.
- ``PreemptionCheckpoint`` turns SIGTERM / SIGUSR1 / SIGUSR2 (what SLURM and submitit send before
  they stop a job) into a checkpoint at the current iteration and a clean stop.
- ``requeue_slurm_job`` and the SLURM resume record let a requeued job continue from the
  checkpoints of its earlier attempts, whatever run directory each attempt wrote to.
"""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, open_dict

from sttn_lightning.models.checkpoint import CheckpointError, write_atomically

LAST_CHECKPOINT_NAME = "last.ckpt"
# entries every Lightning training checkpoint has; a file without them cannot resume a run
_REQUIRED_KEYS = ("state_dict", "global_step", "loops")
RANDOM_STATE_KEY = "random_state"
WANDB_RUN_ID_KEY = "wandb_run_id"
PREEMPTION_SIGNALS = ("SIGTERM", "SIGUSR1", "SIGUSR2")
# SLURM sends SIGUSR1/2 ahead of a time limit when asked to (`--signal`; submitit asks for
# USR2): those jobs are requeued. SIGTERM also means scancel, and SLURM requeues preempted
# jobs itself, so it stops the run without requeueing.
REQUEUE_SIGNALS = ("SIGUSR1", "SIGUSR2")

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint I/O, writing through a temporary file (flushed to disk) and an atomic rename."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, found {storage_options!r}")

        def write(temporary: Path) -> None:
            with open(temporary, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())

        path = Path(path)
        write_atomically({path: write})
        # the rename itself is durable once the folder's entry is on disk
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def checkpoint_problem(path: Path) -> str | None:
    """Why ``path`` cannot resume a run (unreadable, truncated, not a training checkpoint), or None.

    Loads with ``mmap=True``: the tensors are not read, so checking a large checkpoint is cheap.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as error:  # torch raises many types for truncated or foreign files
        return f"it does not load ({type(error).__name__}: {' '.join(str(error).splitlines())})"
    if not isinstance(checkpoint, dict):
        return f"it holds a {type(checkpoint).__name__}, not a training checkpoint"
    missing = [key for key in _REQUIRED_KEYS if key not in checkpoint]
    if missing:
        return f"it is not a training checkpoint (no {', '.join(missing)})"
    return None


def newest_loadable_checkpoint(directories: list[Path], label: str) -> Path | None:
    """The newest ``last.ckpt`` under ``directories`` that loads; each newer one skipped is logged with why."""
    candidates = {path for directory in directories for path in directory.rglob(LAST_CHECKPOINT_NAME) if path.is_file()}
    for path in sorted(candidates, key=lambda path: path.stat().st_mtime, reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        log.warning("%s: skipping %s because %s", label, path, problem)
    return None


def resolve_ckpt_path(ckpt_path: str | None, task_log_dir: Path) -> Path | None:
    """Turn the ``ckpt_path`` setting into a checkpoint file (None: start from scratch).

    - ``None``: no checkpoint;
    - ``"last"``: the newest loadable ``last.ckpt`` under ``task_log_dir``
      (``paths.log_dir/task_name``, which holds every run and multirun of the task, the current
      one included); newer ones that do not load are skipped with a warning saying why;
    - a directory (e.g. an earlier run's): the same, under that directory;
    - a file: that file, which must load.
    """
    if ckpt_path is None:
        return None
    search_dir = task_log_dir if ckpt_path == "last" else Path(ckpt_path)
    if ckpt_path != "last" and search_dir.is_file():
        problem = checkpoint_problem(search_dir)
        if problem is not None:
            raise CheckpointError(f"ckpt_path={ckpt_path!r}: expected a training checkpoint, but {problem}")
        return search_dir
    if not search_dir.is_dir():
        raise CheckpointError(
            f"ckpt_path={ckpt_path!r}: expected a checkpoint file, a run directory or 'last', "
            f"but {search_dir} does not exist"
        )
    found = newest_loadable_checkpoint([search_dir], f"ckpt_path={ckpt_path!r}")
    if found is None:
        raise CheckpointError(
            f"ckpt_path={ckpt_path!r}: expected a loadable {LAST_CHECKPOINT_NAME} under {search_dir}, found none"
        )
    log.info("ckpt_path=%r: resuming from %s", ckpt_path, found)
    return found


def collect_random_state() -> dict[str, Any]:
    """The global random streams of this process: Python, NumPy, torch (CPU and initialised GPUs).

    Held in tensors, ints and tuples only, so checkpoints still load with ``weights_only=True``.
    """
    algorithm, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (algorithm, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gaussian),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict[str, Any]) -> None:
    """Put back the streams ``collect_random_state`` returned."""
    algorithm, keys, position, has_gauss, cached_gaussian = state["numpy"]
    random.setstate(state["python"])
    np.random.set_state((algorithm, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumeState(Callback):
    """Saves the random streams and the wandb run id in each checkpoint; restores the streams on resume.

    The streams are restored when the resumed training starts, so the first resumed iteration
    draws what the interrupted run drew after the checkpoint. The data's own streams (clip,
    mask and augmentation choices) are functions of (seed, epoch, index) and need no state; the
    loaders use their own generators, so nothing between a checkpoint and the next iteration
    draws from the global streams. With several processes the checkpoint holds rank 0's streams.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[RANDOM_STATE_KEY] = collect_random_state()
        run_ids = [str(logger.version) for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        if run_ids:
            checkpoint[WANDB_RUN_ID_KEY] = run_ids[0]

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        self._pending = checkpoint.get(RANDOM_STATE_KEY)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._pending is not None:
            restore_random_state(self._pending)
            self._pending = None


def resume_wandb_run(logger_cfg: DictConfig | None, checkpoint_path: Path | None) -> str | None:
    """Point the config's wandb loggers at the run the checkpoint logged to (``resume="allow"``).

    Reads only the id from the checkpoint (memory-mapped, the tensors stay on disk). Returns the
    id, or None when the checkpoint has none or no wandb logger is configured.
    """
    if logger_cfg is None or checkpoint_path is None:
        return None
    wandb_entries = [name for name, entry in logger_cfg.items() if str(entry.get("_target_", "")).endswith("WandbLogger")]
    if not wandb_entries:
        return None
    checkpoint = torch.load(checkpoint_path, map_location="cpu", mmap=True, weights_only=False)
    run_id = checkpoint.get(WANDB_RUN_ID_KEY)
    if run_id is None:
        return None
    with open_dict(logger_cfg):
        for name in wandb_entries:
            logger_cfg[name].id = run_id
            logger_cfg[name].resume = "allow"
    return str(run_id)


class PreemptionCheckpoint(Callback):
    """On a preemption signal: finish the iteration, save ``<dirpath>/last.ckpt``, stop the run cleanly.

    The handlers are installed when training starts (after Lightning's own, which they replace
    for these signals until training ends); a handler only sets a flag, the checkpoint is
    written after the current iteration's optimiser steps, by every process together (any
    process that received the signal stops them all). ``signal_name``, ``checkpoint_path`` and
    ``iteration`` say what happened; with ``requeue``, ``train()`` requeues the SLURM job after
    the signals in ``requeue_signals``.
    """

    def __init__(
        self,
        dirpath: str | os.PathLike,
        signals: Sequence[str] = PREEMPTION_SIGNALS,
        requeue_signals: Sequence[str] = REQUEUE_SIGNALS,
        requeue: bool = True,
    ) -> None:
        unknown = [name for name in (*signals, *requeue_signals) if not hasattr(signal, str(name))]
        if unknown:
            raise ValueError(f"callbacks.preemption: expected signal names like SIGTERM, found {unknown}")
        self.dirpath = Path(dirpath)
        self.signals = [signal.Signals[str(name)] for name in signals]
        self.requeue_signals = {signal.Signals[str(name)] for name in requeue_signals}
        self.requeue = requeue
        self.signal_name: str | None = None
        self.checkpoint_path: Path | None = None
        self.iteration: int | None = None
        self._received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    @property
    def should_requeue(self) -> bool:
        """Whether the run stopped, inside a SLURM job, for a signal that asks for a requeue."""
        return self.requeue and self._received in self.requeue_signals and slurm_job_key() is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._received is None:
            self._received = signal.Signals(signum)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not trainer.strategy.reduce_boolean_decision(self._received is not None, all=False):
            return
        self.signal_name = self._received.name if self._received is not None else "a signal on another process"
        self.iteration = trainer.global_step
        self.checkpoint_path = self.dirpath / LAST_CHECKPOINT_NAME
        trainer.save_checkpoint(self.checkpoint_path)
        trainer.should_stop = True
        log.warning(
            "Received %s: saved %s at iteration %d and stopping; resume with ckpt_path=last",
            self.signal_name, self.checkpoint_path, self.iteration,
        )

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}


def slurm_job_key() -> str | None:
    """This SLURM job's id as ``scontrol`` takes it (``<array job>_<task>`` for array jobs), else None."""
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array_job is not None:
        return f"{array_job}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}"
    return os.environ.get("SLURM_JOB_ID")


def requeue_slurm_job() -> bool:
    """``scontrol requeue`` this job (it runs again with the same command line); True on success."""
    job = slurm_job_key()
    if job is None or not re.fullmatch(r"[0-9_]+", job):
        log.warning("Not requeueing: no SLURM job id in the environment (found %r)", job)
        return False
    try:
        result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        log.warning("Not requeueing SLURM job %s: scontrol is not on PATH", job)
        return False
    if result.returncode != 0:
        log.warning("Requeueing SLURM job %s failed (exit %d): %s", job, result.returncode, result.stderr.strip())
        return False
    log.warning("Requeued SLURM job %s; it resumes from the checkpoint just saved", job)
    return True


def _attempt_key(job: str) -> str:
    """The SLURM job, and the job of a Hydra multirun when several run inside one SLURM job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return f"{job}.{HydraConfig.get().job.num}"
    return job


def slurm_resume_checkpoint(task_log_dir: Path, run_dir: Path) -> Path | None:
    """For a requeued SLURM job: the newest loadable checkpoint of its earlier attempts; records this attempt.

    A requeued job runs its command line again, usually into a new run directory; the record
    ``<task_log_dir>/slurm/<job>.runs`` lists every attempt's directory, so the next attempt
    finds the checkpoints of all of them (the job's first task writes it). Only a requeued job
    (``SLURM_RESTART_COUNT`` > 0) resumes: runs started one after the other in one allocation
    start afresh. Outside SLURM: None, nothing written.
    """
    job = slurm_job_key()
    if job is None:
        return None
    record = task_log_dir / "slurm" / f"{_attempt_key(job)}.runs"
    earlier = [Path(line) for line in record.read_text().splitlines() if line] if record.is_file() else []
    found = None
    if int(os.environ.get("SLURM_RESTART_COUNT", "0")) > 0 and earlier:
        found = newest_loadable_checkpoint([d for d in earlier if d.is_dir()], f"SLURM job {job}")
    if os.environ.get("SLURM_PROCID", "0") == "0" and run_dir not in earlier:
        record.parent.mkdir(parents=True, exist_ok=True)
        with record.open("a") as file:
            file.write(f"{run_dir}\n")
    return found
