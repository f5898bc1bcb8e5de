"""Bounding-box geometry shared by recognised symbols and the sub-expressions built from them."""

from __future__ import annotations


class Box:
    """Mixin for dataclasses with ``top``, ``left``, ``bottom``, ``right`` (pixels, exclusive ends)."""

    top: float
    left: float
    bottom: float
    right: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def cx(self) -> float:
        return (self.left + self.right) / 2

    @property
    def cy(self) -> float:
        return (self.top + self.bottom) / 2
