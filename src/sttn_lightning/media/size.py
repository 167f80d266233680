"""The package's one size convention: ``Size(width, height)``, the order of PIL, OpenCV and ``size=[W, H]``.

Arrays keep numpy's (H, W[, C]) layout; whenever a size travels as a value it is a ``Size``, so no
caller has to remember which way round a bare tuple is.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Size(NamedTuple):
    """A frame size in pixels, width first."""

    width: int
    height: int

    @classmethod
    def of(cls, image: np.ndarray) -> Size:
        """The size of an (H, W[, C]) array."""
        return cls(int(image.shape[1]), int(image.shape[0]))

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"
