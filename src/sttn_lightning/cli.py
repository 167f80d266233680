"""What the four commands share: configs from the installed package, ``--help``, one-line usage errors.

``sttn-train``, ``sttn-inpaint``, ``sttn-evaluate`` and ``sttn-export`` (and their ``python -m sttn_lightning.*``
forms) run a Hydra main through :func:`run_command`, and its body inside :func:`usage_errors`.
A usage error (bad input, an unknown config group or choice, a malformed override, a missing
value) ends the run with one line on stderr and exit code 2, whether Hydra raises it while
composing (caught by ``run_command``) or the job does (caught inside the job, before Hydra adds
its own report); ``HYDRA_FULL_ERROR=1`` gives the traceback instead. Any other exception is a
bug and keeps its traceback.

A command's ``--help`` page is written from its primary config (``conf/inpaint.yaml`` ...): each
top-level option carries its one-line documentation as a trailing comment, and so does each group
line of its defaults list; they are read from the installed package, so the page and the YAML
cannot drift apart.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
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
# `key: value  # doc` at the top level, and `  - group: choice  # doc` in the defaults list
OPTION_LINE = re.compile(r"^(?P<key>[A-Za-z_]\w*):[ \t]*(?P<value>[^#\n]*?)[ \t]*(?:#[ \t]*(?P<doc>.*))?$")
GROUP_LINE = re.compile(r"^[ \t]+-[ \t]+(?P<group>[\w/]+):[ \t]*(?P<choice>[\w.]+)[ \t]*#[ \t]*(?P<doc>.*)$")
NOT_OPTIONS = ("defaults", "hydra")  # the defaults list and Hydra's own settings


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


def config_lines(config_name: str, line: re.Pattern) -> list[re.Match]:
    """The lines of a primary config that ``line`` matches, except those naming NOT_OPTIONS (by its first group)."""
    text = (resources.files(CONFIG_MODULE) / f"{config_name}.yaml").read_text(encoding="utf-8")
    return [match for match in map(line.match, text.splitlines()) if match and match[1] not in NOT_OPTIONS]


def options(config_name: str) -> list[tuple[str, str, str]]:
    """(key, default as written, documentation) of every top-level option of a primary config."""
    return [
        (match["key"], "required" if match["value"] == "???" else match["value"], (match["doc"] or "").strip())
        for match in config_lines(config_name, OPTION_LINE)
    ]


def default_groups(config_name: str) -> list[tuple[str, str, str]]:
    """(group, default choice, documentation) of the documented group lines of a config's defaults list."""
    return [(match["group"], match["choice"], match["doc"].strip()) for match in config_lines(config_name, GROUP_LINE)]


def group_choices(groups: list[str]) -> dict[str, list[str]]:
    """The choices Hydra offers for each group: our files, plus Hydra's plugins for ``hydra/...`` groups."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        return {group: sorted(loader.get_group_options(group)) for group in groups}


def render_help(command: Command) -> str:
    """The page ``--help`` prints: usage, options (default and doc), then the groups the command uses."""
    rows = options(command.config_name)
    key_width = max(len(key) for key, _, _ in rows)
    value_width = min(max(len(value) for _, value, _ in rows), 16)
    lines = [f"usage: {command.usage}", "", command.summary, "", "options (option=value; default, then what it does):"]
    lines += [f"  {key:<{key_width}}  {value:<{value_width}}  {doc}" for key, value, doc in rows]
    listed = default_groups(command.config_name) + [(group, None, doc) for group, doc in command.extra_groups.items()]
    options_of = group_choices([group.lstrip("+") for group, _, _ in listed])
    groups = [(group, options_of[group.lstrip("+")], choice, doc) for group, choice, doc in listed]
    if groups:
        lines += ["", "config groups (group=choice, * the default; +group=choice adds an optional one):"]
        group_width = max(len(group) for group, *_ in groups)
        for group, choices, default, doc in groups:
            names = " ".join(f"{choice}*" if choice == default else choice for choice in choices)
            lines.append(f"  {group:<{group_width}}  {doc}: {names}")
    lines += [
        "",
        f"Any value of the composed config can be overridden (see it with `{command.name} --cfg job`);",
        f"{QUOTING_HINT}.",
        "Your own configs: hydra.searchpath=[file://DIR] or --config-dir DIR. Hydra's flags: --hydra-help.",
    ]
    return "\n".join(lines)
