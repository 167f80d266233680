"""The exception the media layer raises for unreadable or mismatching input."""

from sttn_lightning.errors import InputError


class MediaError(InputError):
    """A frame, mask, video or dataset file that cannot be read as expected; the message names it."""
