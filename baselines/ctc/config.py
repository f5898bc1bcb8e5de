"""CRNN/CTC model configuration (no torch here, so the command line can list sizes without it)."""

from __future__ import annotations

from dataclasses import dataclass

@dataclass
class CTCConfig:
    vocab_size: int = 0
    cnn_channels: tuple[int, ...] = (64, 128, 256, 256, 512, 512)   # CRNN's VGG-style widths
    lstm_hidden: int = 256
    lstm_layers: int = 2
    slots: int = 2

    def __post_init__(self) -> None:
        self.cnn_channels = tuple(self.cnn_channels)
        if len(self.cnn_channels) != 6:
            raise ValueError("cnn_channels needs 6 conv widths")


#: Model widths: ``paper`` is CRNN's; the narrower ones are for CPU runs and tests.
SIZES: dict[str, dict] = {
    "paper": {},
    "small": dict(cnn_channels=(32, 64, 128, 128, 256, 256), lstm_hidden=128),
    "tiny": dict(cnn_channels=(16, 32, 64, 64, 128, 128), lstm_hidden=128),
}


def build_config(size: str = "paper", **overrides) -> CTCConfig:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    return CTCConfig(**{**SIZES[size], **overrides})
