"""Errors a user can cause, each with a distinct exit code and a fix.

The CLI prints `message` and `fix` and exits with `exit_code`; it never shows a
traceback for these. Codes are stable so scripts and CI can branch on them.
"""

from __future__ import annotations


class TinymlError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""

    exit_code = 1

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message


class UsageError(TinymlError):
    """Bad command-line arguments or files the user named."""

    exit_code = 2


class BudgetExceededError(TinymlError):
    """The model does not fit the board's (or the given) SRAM/flash budget."""

    exit_code = 3


class ModelFileError(TinymlError):
    """The model file is missing, truncated, corrupt or not a TFLite flatbuffer."""

    exit_code = 10


class UnsupportedModelError(TinymlError):
    """A model tinyml cannot compile as a whole: a float model, a Keras file or SavedModel, several subgraphs."""

    exit_code = 11


class UnsupportedOpError(TinymlError):
    """One or more operators (or operator variants) are not implemented."""

    exit_code = 12


class InputDataError(TinymlError):
    """Input tensor data of the wrong size or format."""

    exit_code = 13


class OutputDirError(TinymlError):
    """The output directory exists and holds files tinyml did not write."""

    exit_code = 14


class SearchLogError(TinymlError):
    """The output directory of a model search holds another search's log, or a log damaged beyond its last line."""

    exit_code = 15


class DiskFullError(TinymlError):
    """The disk filled up while tinyml wrote its output; what was written before stays intact."""

    exit_code = 16


class ToolchainError(TinymlError):
    """A compiler or emulator tinyml needs is not installed."""

    exit_code = 20


class BuildError(TinymlError):
    """The generated C project failed to compile or link."""

    exit_code = 21


class RunError(TinymlError):
    """The built application failed, crashed or timed out."""

    exit_code = 22


class SerialError(TinymlError):
    """A board's serial port cannot be opened, stays silent, answers garbage, or drops the connection."""

    exit_code = 30


class DeviceMismatchError(TinymlError):
    """The board answers, but runs another model (or bench protocol version) than the host expects."""

    exit_code = 31


class ProbeError(TinymlError):
    """No debug probe answers, or flashing the board failed."""

    exit_code = 32


class MismatchError(TinymlError):
    """The device's outputs differ from TFLite Micro's: the one failure tinyml exists to prevent."""

    exit_code = 33


class ClusterError(TinymlError):
    """A Ray cluster named with --ray does not answer, or refuses to start."""

    exit_code = 34


class PackError(TinymlError):
    """CMSIS packs cannot be downloaded or unpacked."""

    exit_code = 24
