"""What the command-line mains share: bad input ends a run with one line and exit code 2, no traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
BAD_INPUT_EXIT_CODE = 2


def fail(message: str, exit_code: int = BAD_INPUT_EXIT_CODE) -> NoReturn:
    """Print ``error: <message>`` on one line to stderr and exit with ``exit_code`` (bad input by default)."""
    one_line = " ".join(message.splitlines())
    print(f"error: {one_line}", file=sys.stderr)
    sys.exit(exit_code)
