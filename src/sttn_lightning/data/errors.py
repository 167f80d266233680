"""The one exception type the data package raises for bad input."""

from sttn_lightning.errors import InputError


class DataError(InputError):
    """Bad dataset input; the message names the file, what was expected and what was found."""
