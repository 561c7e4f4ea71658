"""The one error type the CLI turns into a clear message and a non-zero exit code."""

from __future__ import annotations


class CliError(Exception):
    """A refusal the user can fix: the message names what is wrong and what to do."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def describe_os_error(error: OSError) -> str:
    """One line for a file-system error: what failed, on which path."""
    reason = " ".join((error.strerror or str(error)).split())
    paths = [str(name) for name in (error.filename, error.filename2) if name is not None]
    return f"{reason}: {' -> '.join(paths)}" if paths else reason
