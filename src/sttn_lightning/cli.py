"""What the three commands share: configs from the installed package, ``--help``, one-line usage errors.

``sttn-train``, ``sttn-inpaint`` and ``sttn-evaluate`` (and their ``python -m sttn_lightning.*``
forms) run a Hydra main through :func:`run_command`, and its body inside :func:`usage_errors`.
A usage error (bad input, an unknown config group or choice, a malformed override, a missing
value) ends the run with one line on stderr and exit code 2, whether Hydra raises it while
composing (caught by ``run_command``) or the job does (caught inside the job, before Hydra adds
its own report); ``HYDRA_FULL_ERROR=1`` gives the traceback instead. Any other exception is a
bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from hydra.errors import HydraException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sttn_lightning.errors import InputError

CONFIG_MODULE = "sttn_lightning.conf"  # conf/ of the checkout, shipped in the wheel (setup.py)
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"
BAD_INPUT_EXIT_CODE = 2
RUN_FAULT_EXIT_CODE = 1  # the run itself failed (e.g. training diverged), not its input
FULL_ERROR_VARIABLE = "HYDRA_FULL_ERROR"
SET_BY_CLI_VARIABLE = "STTN_CLI_SET_HYDRA_FULL_ERROR"  # marks HYDRA_FULL_ERROR as ours (inherited by DDP workers)
USAGE_ERRORS: tuple[type[BaseException], ...] = (InputError, HydraException, OmegaConfBaseException)
QUOTING_HINT = (
    "quote values with spaces, commas, brackets, parentheses or quotes for Hydra, "
    "e.g. 'video=\"my clip (1).mp4\"' (see docs/configs.md)"
)


@dataclass(frozen=True)
class Command:
    """A console script: its name, usage line, one-line summary, config and the groups outside its defaults."""

    name: str
    usage: str
    summary: str
    config_name: str
    # groups outside the config's defaults list, as typed ("+experiment", "hydra/launcher") -> one-line doc
    extra_groups: dict[str, str] = field(default_factory=dict)
    usage_errors: tuple[type[BaseException], ...] = ()  # raised by the main, reported like USAGE_ERRORS


def fail(message: str, exit_code: int = BAD_INPUT_EXIT_CODE) -> NoReturn:
    """Print ``error: <message>`` on one line to stderr and exit with ``exit_code`` (bad input: 2)."""
    one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"error: {one_line}", file=sys.stderr)
    sys.exit(exit_code)


def require(cfg: DictConfig, keys: Sequence[str], command: Command) -> None:
    """Stop with one line naming every required key (``???`` in the config) the command line left out."""
    missing = [key for key in keys if OmegaConf.is_missing(cfg, key)]
    if missing:
        fail(f"missing {', '.join(f'{key}=' for key in missing)}; usage: {command.usage}")


def describe(error: BaseException) -> str:
    """The message of a usage error, with the OmegaConf cause Hydra wraps and a quoting hint for parse errors."""
    message = str(error)
    if isinstance(error, OverrideParseException) and error.override not in message:
        message = f"cannot parse the override {error.override!r}: {message}"
    cause = error.__cause__
    if isinstance(error, HydraException) and cause is not None and str(cause).strip():
        message = f"{message} ({str(cause).strip().splitlines()[0]})"
    message = message.split("\nConfig search path:")[0]  # Hydra lists its search path after a missing config
    if isinstance(error, OverrideParseException) or "Ambiguous value for argument" in message:
        message = f"{message}; {QUOTING_HINT}"
    return message


def tracebacks_requested() -> bool:
    """The user set ``HYDRA_FULL_ERROR=1`` (``run_command`` sets it as well, and marks it as its own)."""
    return os.environ.get(FULL_ERROR_VARIABLE) == "1" and os.environ.get(SET_BY_CLI_VARIABLE) != "1"


@contextlib.contextmanager
def usage_errors(command: Command) -> Iterator[None]:
    """Around a job's body: a usage error it raises ends the run with one line and exit code 2."""
    if tracebacks_requested():
        yield
        return
    try:
        yield
    except (*USAGE_ERRORS, *command.usage_errors) as error:
        fail(describe(error))


def run_command(hydra_main: Callable[[], object], command: Command) -> None:
    """Run a ``@hydra.main`` function as ``command``: ``--help``/``-h`` print its page, usage errors one line."""
    if any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        from sttn_lightning.cli_help import render_help

        print(render_help(command))
        return
    if tracebacks_requested():
        hydra_main()
        return
    # Hydra prints its own multi-line report and exits 1 unless HYDRA_FULL_ERROR=1, in which case it
    # re-raises: set it for the run so that errors from composing the config reach the handler below.
    os.environ.update({FULL_ERROR_VARIABLE: "1", SET_BY_CLI_VARIABLE: "1"})
    try:
        with usage_errors(command):
            hydra_main()
    finally:
        del os.environ[FULL_ERROR_VARIABLE], os.environ[SET_BY_CLI_VARIABLE]
