"""The one exception type that stage scripts turn into a one-line message and exit code 1."""


class SignlangError(Exception):
    """Bad input (params, data, checkpoint): the message names where and what was expected."""
