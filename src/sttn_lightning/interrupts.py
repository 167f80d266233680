"""SIGINT and SIGTERM as an exception, so that an interrupted command unwinds through its writers
(which remove the partial output and stop their ffmpeg processes) and exits with 130 / 143, and the
exit codes of the command-line mains: 2 for bad input, 1 for an environment fault during the run.

The handlers are installed by ``command_exit_codes`` only, for the duration of a command's work;
library code run without it keeps Python's default (KeyboardInterrupt on SIGINT, SIGTERM kills).
``deferred_signals`` marks the few steps that must not be cut in half (a writer taking ownership of
a file or a process it just created, a finished output moved into place).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from sttn_lightning.cli import RUN_FAULT_EXIT_CODE, fail
from sttn_lightning.errors import InputError, OutputFault

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; a KeyboardInterrupt, so that code handling Ctrl-C handles SIGTERM too."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class _SignalState:
    deferring = 0  # nesting depth of deferred_signals
    pending: int | None = None  # a signal that arrived while deferring
    raised = False  # one Interrupted per process: later signals must not cut its cleanup short


def _on_signal(signum: int, frame) -> None:
    if _SignalState.raised:
        return
    if _SignalState.deferring:
        _SignalState.pending = signum
        return
    _SignalState.raised = True
    raise Interrupted(signum)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """A stop signal arriving inside the block is raised when the block ends, not in the middle of it."""
    _SignalState.deferring += 1
    try:
        yield
    finally:
        _SignalState.deferring -= 1
        if not _SignalState.deferring and _SignalState.pending is not None and not _SignalState.raised:
            signum, _SignalState.pending = _SignalState.pending, None
            _SignalState.raised = True
            raise Interrupted(signum)


@contextmanager
def command_exit_codes() -> Iterator[None]:
    """Run a command's work: bad input -> one line, exit 2; an environment fault -> one line, exit 1;
    SIGINT / SIGTERM -> the work unwinds (removing partial output), one line, exit 130 / 143.

    SIGINT is handled even when the process started with it ignored (a background job ``&`` of a
    non-interactive shell), so that ``kill -INT`` stops a run as Ctrl-C does.
    """
    previous = {signum: signal.signal(signum, _on_signal) for signum in STOP_SIGNALS}
    try:
        yield
    except InputError as error:
        fail(str(error))
    except OutputFault as error:
        fail(str(error), RUN_FAULT_EXIT_CODE)
    except KeyboardInterrupt as error:
        signum = error.signum if isinstance(error, Interrupted) else signal.SIGINT
        # the shell's convention for a command ended by a signal: 128 + its number (130 SIGINT, 143 SIGTERM)
        fail(f"interrupted by {signal.Signals(signum).name}; the partial output was removed", 128 + signum)
    finally:
        if not _SignalState.raised:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
