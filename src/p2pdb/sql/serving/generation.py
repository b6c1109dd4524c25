"""A counter in shared memory: the main process bumps it after each change readers must pick up."""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

_WORD = struct.Struct("<Q")


class Generation:
    """An 8-byte counter in a file mapped into memory by every process of one node."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.write(fd, bytes(_WORD.size))
            self._map = mmap.mmap(fd, _WORD.size)
        finally:
            os.close(fd)

    @property
    def value(self) -> int:
        return int(_WORD.unpack_from(self._map, 0)[0])

    def bump(self) -> int:
        """Main process only (one writer): count one more change and return the new value."""
        value = self.value + 1
        _WORD.pack_into(self._map, 0, value)
        return value

    def close(self) -> None:
        self._map.close()
