"""The one exception type the data package raises for bad input."""


class DataError(ValueError):
    """Bad dataset input; the message names the file, what was expected and what was found."""
