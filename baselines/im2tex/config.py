"""IM2TEX model configurations: one dataclass, one entry per row of the paper's Table 2.

No torch here, so the command line can list variants and sizes without it.
"""

from __future__ import annotations

from dataclasses import dataclass

VARIANTS = ("standard", "coarse", "hierarchical", "c2f-sparsemax", "c2f-hard")
CELL = 4  # coarse cell = CELL x CELL fine positions (the paper's H/H' = W/W' = 4)


@dataclass
class Im2TexConfig:
    """Defaults are the paper's standard IM2TEX model (§5)."""

    vocab_size: int = 0
    attention: str = "standard"
    row_encoder: bool = True              # False = CAPTION
    pos_embed: bool = True                # False = -PosEmbed (Table 3): row encoder starts from zeros
    image: bool = True                    # False = LSTM-LM (Table 3): the decoder alone, context 0
    cnn_channels: tuple[int, ...] = (64, 128, 256, 256, 512, 512)
    coarse_channels: int = 512            # the two extra conv layers of the coarse CNN
    encoder_hidden: int = 256             # per direction; fine features D = 2 * 256
    decoder_hidden: int = 512
    embed: int = 80
    attention_hidden: int = 512           # A in beta^T tanh(W1 h + W2 v)
    max_rows: int = 20                    # rows with their own trainable initial state (im2markup's max_encoder_l_h)
    max_decode_len: int = 150
    # REINFORCE (c2f-hard), paper §4.2
    discount: float = 0.5
    baseline_rate: float = 0.01

    def __post_init__(self) -> None:
        self.cnn_channels = tuple(self.cnn_channels)
        if self.attention not in VARIANTS:
            raise ValueError(f"unknown attention {self.attention!r}; expected one of {', '.join(VARIANTS)}")
        if len(self.cnn_channels) != 6:
            raise ValueError("cnn_channels needs the 6 conv widths of the paper's CNN")

    @property
    def hierarchical(self) -> bool:
        return self.attention != "standard"

    @property
    def feature_size(self) -> int:
        return 2 * self.encoder_hidden if self.row_encoder else self.cnn_channels[-1]


#: Model widths. ``paper`` is the paper's; the narrower ones keep the architecture for CPU runs.
SIZES: dict[str, dict] = {
    "paper": {},
    "small": dict(cnn_channels=(32, 64, 128, 128, 256, 256), encoder_hidden=128, decoder_hidden=256,
                  embed=64, attention_hidden=256, coarse_channels=256),
    "tiny": dict(cnn_channels=(16, 32, 64, 64, 128, 128), encoder_hidden=64, decoder_hidden=128,
                 embed=32, attention_hidden=64, coarse_channels=64),
}
#: The rows of the paper's Table 2 this file implements.
MODELS = ("caption",) + VARIANTS


def build_config(model: str = "standard", size: str = "paper", **overrides) -> Im2TexConfig:
    """The config of one Table 2 row at one size. ``caption`` has no row encoder and widens the
    last two conv layers by 1.25 so its parameter count stays the standard model's (the paper:
    "we increase the number of CNN filters to keep the parameter count")."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODELS)}")
    values = dict(SIZES[size])
    if model == "caption":
        ch = list(values.get("cnn_channels", Im2TexConfig.cnn_channels))
        ch[4], ch[5] = int(ch[4] * 1.25), int(ch[5] * 1.25)
        values.update(row_encoder=False, cnn_channels=tuple(ch))
    else:
        values["attention"] = model
    values.update(overrides)
    return Im2TexConfig(**values)
