"""Exceptions that cross module boundaries.

``InputError`` is the one error a user can fix: the CLI turns it into a one-line message and exit code 2, and
the API into an HTTP 4xx problem+json response. Anything else is a bug or an infrastructure failure.
"""


class InputError(ValueError):
    """The caller gave us something we cannot use (bad image, wrong depth size, unknown mode, ...)."""


class ModelNotAvailableError(RuntimeError):
    """A configured model's weights are not present locally; the message names it and how to fetch it."""


class Cancelled(RuntimeError):
    """Generation was cancelled by the caller between two views."""
