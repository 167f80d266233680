"""The package's one base class for bad input: every entry point turns it into one line and exit code 2."""


class InputError(ValueError):
    """Bad input; the message names the file or option, what was expected and what was found."""
