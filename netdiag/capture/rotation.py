"""tcpdump's rotation decisions for ``-C``, ``-G`` and ``-W`` (tcpdump.c,
``dump_packet_and_trunc`` and ``MakeFilename``), pure: fed the size of the file
so far and each packet's second, never a clock of their own. The writer that
acts on them is ``capture.rotate.RotatingWriter``.

- ``-C``: when the file already holds *more* than ``size`` bytes, the packet
  opens the next file (so a file ends past the limit by less than one record).
  Names: ``FILE``, ``FILE1``, ``FILE2``, ...; with ``-W N``: ``FILE0`` ..
  ``FILE{N-1}``, zero-padded to the width of N-1, the oldest overwritten.
- ``-G``: when the packet comes ``seconds`` or more after the current file was
  started, it opens the next one. ``FILE`` is a strftime pattern, expanded in
  local time at the second the file starts; with ``-C`` too, the size numbers
  restart at each new time slice. With ``-W N`` (and no ``-C``) the capture ends
  instead of opening file N+1 ("Maximum file limit reached: N").
"""

from __future__ import annotations

import time

from netdiag.errors import UsageError
from netdiag.records import dataclass

__all__ = ["RotationPlan", "Rotation", "parse_size", "file_name", "KEEP", "NEXT", "STOP", "MB"]

MB = 1_000_000  # tcpdump's -C unit without a suffix
_UNITS = {"k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}  # tcpdump >= 4.99.4 suffixes
KEEP, NEXT, STOP = 0, 1, 2  # Rotation.before: write here, open the next file, end


def parse_size(text: str) -> int:
    """``-C``'s argument in bytes: an integer of millions of bytes (tcpdump), or of
    KiB, MiB, GiB with a ``k``, ``m``, ``g`` suffix (tcpdump 4.99.4 and later)."""
    t = text.strip()
    mult = MB
    if t and t[-1].lower() in _UNITS:
        mult = _UNITS[t[-1].lower()]
        t = t[:-1]
    if not (t.isascii() and t.isdigit()) or int(t) < 1:
        raise UsageError(f"invalid file size {text!r} for -C (MB, or a number with k, m or g)")
    return int(t) * mult


def _digits(files: int | None) -> int:
    """tcpdump's getWflagChars: the digits of files-1 (0 when files is 1 or unset)."""
    return len(str(files - 1)) if files and files > 1 else 0


def file_name(pattern: str, number: int, width: int, started: int | None) -> str:
    """tcpdump's MakeFilename: the strftime expansion of ``pattern`` at ``started``
    (local time; None: no expansion), then ``number`` zero-padded to ``width``
    digits, nothing appended when both are 0."""
    name = time.strftime(pattern, time.localtime(started)) if started is not None else pattern
    if number == 0 and width == 0:
        return name
    return f"{name}{number:0{width}d}"


@dataclass(frozen=True, slots=True)
class RotationPlan:
    """What ``-w FILE -C -G -W`` asked for."""

    pattern: str  # -w FILE (a strftime pattern with -G)
    size: int | None = None  # -C in bytes
    seconds: int | None = None  # -G
    files: int | None = None  # -W

    def __post_init__(self) -> None:
        if not self.pattern:
            raise UsageError("an empty string is not a valid file name")
        if self.size is not None and self.size < 1:
            raise UsageError(f"-C {self.size}: must be at least 1 byte")
        if self.seconds is not None and self.seconds < 1:
            raise UsageError(f"-G {self.seconds}: must be at least 1 second")
        if self.files is not None:
            if self.files < 1:
                raise UsageError(f"-W {self.files}: must be at least 1")
            if self.size is None and self.seconds is None:
                raise UsageError("-W needs -C or -G (a ring of files to rotate)")

    @property
    def rotates(self) -> bool:
        return self.size is not None or self.seconds is not None


class Rotation:
    """tcpdump's rotation decisions, fed the size so far and the packet's second."""

    __slots__ = ("plan", "started", "size_count", "time_count", "name", "_width")

    def __init__(self, plan: RotationPlan, start: int) -> None:
        self.plan = plan
        self.started = start  # second the current time slice began (tcpdump's Gflag_time)
        self.size_count = 0  # tcpdump's Cflag_count
        self.time_count = 0  # tcpdump's Gflag_count: files closed by -G
        self._width = _digits(plan.files) if plan.size is not None else 0
        self.name = self._name()

    def _name(self) -> str:
        when = self.started if self.plan.seconds is not None else None
        return file_name(self.plan.pattern, self.size_count, self._width, when)

    def before(self, size: int, sec: int) -> int:
        """Before a packet of second ``sec`` is written to a file of ``size`` bytes:
        KEEP (write it there), NEXT (``name`` is the file to write it to) or STOP."""
        p = self.plan
        if p.seconds is not None and sec - self.started >= p.seconds:
            self.started = sec
            self.time_count += 1
            if p.size is None and p.files is not None and self.time_count >= p.files:
                return STOP
            self.size_count = 0
            self.name = self._name()
            return NEXT
        if p.size is not None and size > p.size:
            self.size_count += 1
            if p.files is not None and self.size_count >= p.files:
                self.size_count = 0
            self.name = self._name()
            return NEXT
        return KEEP

    def quiet_until(self) -> int | None:
        """The first second at which ``before`` may say NEXT for time (None: never)."""
        s = self.plan.seconds
        return None if s is None else self.started + s
