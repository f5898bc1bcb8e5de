"""Typed exceptions. Library code raises these; only the CLI turns them into exit codes."""

from __future__ import annotations

from pathlib import Path


class MarkupEvalError(Exception):
    """Base class for every error markupeval raises on purpose."""


class InputError(MarkupEvalError):
    """A user-supplied file is malformed. Names the file and, where known, the 1-based line."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.detail = message
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)


class RenderEnvironmentError(MarkupEvalError):
    """The TeX installation is missing or broken (not a formula's fault)."""
