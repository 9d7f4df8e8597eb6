"""Exceptions raised by the aikb core; the CLI maps each to an exit code."""

from __future__ import annotations


class AikbError(Exception):
    """Base class of every error aikb reports to the user as one line."""

    exit_code = 2


class VaultError(AikbError):
    """The vault path does not exist, is not a directory, or cannot be listed."""

    exit_code = 2


class ConfigError(AikbError):
    """The config file exists but cannot be read or parsed."""

    exit_code = 2


class NotFound(AikbError):
    """A term or query matched nothing; carries suggestions for the message."""

    exit_code = 1

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.suggestions = suggestions or []


class UsageError(AikbError):
    """An option or argument has a value aikb cannot use."""

    exit_code = 2


class CacheError(AikbError):
    """``aikb index`` could not save the index (cache dir unwritable, database locked)."""

    exit_code = 2
