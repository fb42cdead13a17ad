"""A one-line progress display on stderr for long generations; silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Reports phases (``step``) and per-item counts (``advance``) on one rewritten terminal line.

    ``Progress.auto()`` is enabled only when the stream is a TTY, so logs, pipes and CI stay clean;
    ``Progress.quiet()`` never writes. Counts redraw at most every ``interval`` seconds.
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True, interval: float = 0.1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interval = interval
        self._last = 0.0
        self._width = 0

    @classmethod
    def auto(cls, stream: TextIO | None = None) -> Progress:
        """Enabled when ``stream`` (default stderr) is a terminal."""
        stream = stream if stream is not None else sys.stderr
        isatty = getattr(stream, "isatty", None)
        return cls(stream, enabled=bool(callable(isatty) and isatty()))

    @classmethod
    def quiet(cls) -> Progress:
        return cls(enabled=False)

    def _show(self, text: str) -> None:
        pad = " " * max(0, self._width - len(text))
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()
        self._width = len(text)

    def step(self, message: str) -> None:
        """Show a phase (``reflecting public: 412 tables``)."""
        if self.enabled:
            self._show(f"matrx-orm: {message}")
            self._last = time.monotonic()

    def advance(self, label: str, done: int, total: int) -> None:
        """Show ``label done/total`` (throttled; the last item always shows)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < self.interval:
            return
        self._last = now
        self._show(f"matrx-orm: {label} {done}/{total}")

    def done(self, message: str | None = None) -> None:
        """Finish the line (and print ``message`` on it)."""
        if not self.enabled:
            return
        if message:
            self._show(f"matrx-orm: {message}")
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
        self._width = 0
