"""The one exception family of hybridctl and the exit codes it maps to."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the thing checked fell short, or an operation failed
EXIT_USAGE = 2  # bad usage or bad input


class HybridctlError(Exception):
    """An error meant for the user: what happened, and how to fix it."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class UsageError(HybridctlError):
    """Bad options or arguments (exit 2)."""


class InputError(HybridctlError):
    """A file or value given by the user is invalid (exit 2)."""


class CatalogError(InputError):
    """The catalog is invalid; carries every problem found (exit 2)."""

    def __init__(self, path: str, problems: list[str], *, hint: str | None = None) -> None:
        self.path = path
        self.problems = problems
        count = len(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"catalog {path} is invalid ({count} problem{'s' if count != 1 else ''}):\n{lines}",
            hint=hint or "Fix the fields named above and run `hybridctl validate` again.",
        )


class CheckFailed(HybridctlError):
    """A check ran and the thing checked fell short (exit 1)."""

    exit_code = EXIT_FAILED


class OperationFailed(HybridctlError):
    """An operation (deploy, SSH, bench run) failed (exit 1)."""

    exit_code = EXIT_FAILED
