"""A command's ``--help`` page, written from its config: options with defaults and docs, and its groups.

Each top-level option of a primary config (``conf/inpaint.yaml`` ...) carries its one-line
documentation as a trailing comment, and so does each group line of its defaults list; this
module reads them from the installed package, so the page and the YAML cannot drift apart.
"""

from __future__ import annotations

import re
from importlib import resources

from sttn_lightning.cli import CONFIG_MODULE, QUOTING_HINT, Command

# `key: value  # doc` at the top level, and `  - group: choice  # doc` in the defaults list
OPTION_LINE = re.compile(r"^(?P<key>[A-Za-z_]\w*):[ \t]*(?P<value>[^#\n]*?)[ \t]*(?:#[ \t]*(?P<doc>.*))?$")
GROUP_LINE = re.compile(r"^[ \t]+-[ \t]+(?P<group>[\w/]+):[ \t]*(?P<choice>[\w.]+)[ \t]*#[ \t]*(?P<doc>.*)$")
NOT_OPTIONS = ("defaults", "hydra")  # the defaults list and Hydra's own settings


def config_text(config_name: str) -> str:
    return (resources.files(CONFIG_MODULE) / f"{config_name}.yaml").read_text(encoding="utf-8")


def options(config_name: str) -> list[tuple[str, str, str]]:
    """(key, default as written, documentation) of every top-level option of a primary config."""
    found = []
    for line in config_text(config_name).splitlines():
        match = OPTION_LINE.match(line)
        if match and match["key"] not in NOT_OPTIONS:
            value = match["value"]
            found.append((match["key"], "required" if value == "???" else value, (match["doc"] or "").strip()))
    return found


def default_groups(config_name: str) -> list[tuple[str, str, str]]:
    """(group, default choice, documentation) of the documented group lines of a config's defaults list."""
    return [
        (match["group"], match["choice"], match["doc"].strip())
        for match in map(GROUP_LINE.match, config_text(config_name).splitlines())
        if match and match["group"] not in NOT_OPTIONS
    ]


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

