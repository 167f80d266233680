"""The exception inference raises for bad input, caught by the CLI for a one-line message."""

from sttn_lightning.errors import InputError


class InpaintError(InputError):
    """Bad inference input or output; the message names the path, what was expected and the fix."""
