"""The one family of errors if-cli raises on purpose.

Each error carries the process exit code it maps to and an optional hint: the single
boundary in ``if_cli.main`` turns it into one line on stderr, never a traceback. The
engine raises these too, so API users can catch ``IFCliError`` alone.
"""

from __future__ import annotations


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP raised as an interrupt, to unwind (and clean up) exactly like Ctrl-C."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number


class IFCliError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}; {self.hint}"


class InvalidRequestError(IFCliError):
    """A value the user gave is out of range, unknown or empty."""

    exit_code = 2


class BadFieldError(InvalidRequestError):
    """A request field has a bad value; ``field`` names it (``num_images``,
    ``stage_2.noise_level``) so a front end can say it in its own words (``--num-images``).
    """

    def __init__(self, field: str, problem: str, hint: str | None = None) -> None:
        super().__init__(f"{field} {problem}", hint)
        self.field = field
        self.problem = problem


class ConfigError(InvalidRequestError):
    """The config file or an IF_CLI_* variable holds something if-cli cannot use."""


class ModelNotFoundError(IFCliError):
    """A model is not in the cache or the folder is not a model in the diffusers layout."""

    exit_code = 3


class NotDownloadedError(ModelNotFoundError):
    """A hub model that is not in the Hugging Face cache (``repo_id`` names it)."""

    def __init__(self, message: str, repo_id: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.repo_id = repo_id


class DeviceUnavailableError(IFCliError):
    """The requested device (or offload mode) cannot be used on this machine."""

    exit_code = 4


class OutOfMemoryError(IFCliError):
    """The device ran out of memory; the hint says which placement to try."""

    exit_code = 5


class OutputError(IFCliError):
    """The output directory or a file in it cannot be written."""

    exit_code = 6


class AccessDeniedError(IFCliError):
    """The hub refused access: a gated repo whose licence is not accepted, or no token."""

    exit_code = 7


class NetworkError(IFCliError):
    """The hub cannot be reached (offline, no network, dropped too often)."""

    exit_code = 8


class DoctorFoundProblems(IFCliError):
    """``if-cli doctor`` found something that stops generation on this machine."""

    exit_code = 9


class WorkerError(IFCliError):
    """The worker (``if-cli serve``) cannot start (its socket), cannot be reached, or
    stopped in the middle of a job; images finished before are kept."""

    exit_code = 11


class SomeItemsFailed(IFCliError):
    """With --keep-going: the run finished, but some images failed."""

    exit_code = 10


class InterruptedByUser(IFCliError):
    """Ctrl-C: images finished before it are kept."""

    exit_code = 130


class HungUp(InterruptedByUser):
    """SIGHUP (the terminal or SSH session closed): stopped like Ctrl-C, with exit 129."""

    exit_code = 129


class TerminatedBySignal(InterruptedByUser):
    """SIGTERM (``kill``, a job scheduler's timeout): stopped like Ctrl-C, with exit 143."""

    exit_code = 143


class StdoutClosed(IFCliError):
    """stdout was closed, or the program reading it went away (a broken pipe).

    stdout carries the paths of finished images; with nobody to read them the run stops,
    as a Unix tool stops on SIGPIPE (exit 141), and the images finished so far are kept.
    """

    exit_code = 141


def interruption(stop: KeyboardInterrupt, command: str | None = None) -> InterruptedByUser:
    """The error for a run stopped by Ctrl-C (SIGINT) or by a ``StopSignal``.

    ``command`` names what was stopped: a download keeps files, the rest images.
    """
    import signal

    kept = "finished files were kept" if command == "download" else "finished images were kept"
    number = getattr(stop, "signal_number", None)
    if number == signal.SIGTERM:
        return TerminatedBySignal(f"terminated (SIGTERM); {kept}")
    if number == signal.SIGHUP:
        return HungUp(f"hung up (SIGHUP); {kept}")
    return InterruptedByUser(f"interrupted; {kept}")


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected internal error (please report it)",
    InvalidRequestError.exit_code: "invalid arguments or values (also command-line usage errors)",
    ModelNotFoundError.exit_code: "a model is missing from the cache or is not a usable model",
    DeviceUnavailableError.exit_code: "the requested device or offload mode is not available",
    OutOfMemoryError.exit_code: "the device ran out of memory",
    OutputError.exit_code: "an output or cache folder cannot be written, or the disk is full",
    AccessDeniedError.exit_code: "the hub refused access (gated model or missing token)",
    NetworkError.exit_code: "the hub cannot be reached",
    DoctorFoundProblems.exit_code: "`if-cli doctor` found a problem that stops generation",
    SomeItemsFailed.exit_code: "with --keep-going: some images failed, the others are written",
    WorkerError.exit_code: "the worker (if-cli serve) cannot start, be reached, or stopped mid-job",
    HungUp.exit_code: "hung up (SIGHUP: the terminal or session closed)",
    InterruptedByUser.exit_code: "interrupted (Ctrl-C, SIGINT)",
    StdoutClosed.exit_code: "stdout was closed or its reader went away (broken pipe)",
    TerminatedBySignal.exit_code: "terminated (SIGTERM)",
}
