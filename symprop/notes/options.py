"""The options a course sets for its notes: which sections, which optimizer, which notation."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

from ..errors import SympropError
from ..printing import LAYER_STYLES

OPTIMIZERS = ("sgd", "momentum", "adam")
LEARNING_RATE_SYMBOLS = {"eta": r"\eta", "alpha": r"\alpha"}


@dataclass(frozen=True)
class NoteOptions:
    """Everything that changes the notes of one derivation besides its values.

    ``sections``: the sections to write (names from ``symprop.notes.SECTION_NAMES``;
    default: all that apply); ``omit``: sections to leave out;
    ``optimizer``: "sgd", "momentum" or "adam", the update rule written out;
    ``learning_rate_symbol``: "eta" or "alpha";
    ``layer_style``: "[l]" (W^{[1]}), "(l)" (W^{(1)}; examples are then x^{<i>}) or "_l" (W_{1});
    default: "[l]" for matrix networks, "_l" for scalar ones;
    ``interleaved``: each symbolic step of the backward pass followed at once by
    its number in the worked example (as the textbooks' worked examples read),
    rather than a worked example of its own after the derivation;
    ``compare``: (another network, or its derivation) declared with the same
    names, to set beside this one in the section on vanishing gradients
    (the deep sigmoid network beside the deep ReLU one), at the same values.
    """

    sections: Optional[tuple] = None
    omit: tuple = ()
    optimizer: str = "sgd"
    learning_rate_symbol: str = "eta"
    layer_style: Optional[str] = None
    interleaved: bool = False
    compare: object = None

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise SympropError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.learning_rate_symbol not in LEARNING_RATE_SYMBOLS:
            raise SympropError(f"unknown learning_rate_symbol {self.learning_rate_symbol!r}; choose eta or alpha")
        if self.layer_style is not None and self.layer_style not in LAYER_STYLES:
            raise SympropError(f"unknown layer_style {self.layer_style!r}; choose one of {', '.join(LAYER_STYLES)}")
        for name in ("sections", "omit"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))  # omit="graph" means one section
            elif value is not None:
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_keywords(cls, options: dict) -> "NoteOptions":
        """NoteOptions(**options), with one clear line for a misspelt option."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise SympropError(f"unknown rendering option(s): {', '.join(unknown)}; the options are {', '.join(sorted(known))}")
        return cls(**options)
