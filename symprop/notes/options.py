"""The options a course sets for its notes: which sections, which optimizer, which notation."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

from ..errors import SympropError

OPTIMIZERS = ("sgd", "momentum", "adam")


@dataclass(frozen=True)
class NoteOptions:
    """Everything that changes the notes of one derivation besides its values.

    ``sections``: the sections to write (names from ``symprop.notes.SECTION_NAMES``;
    default: all that apply); ``omit``: sections to leave out;
    ``optimizer``: "sgd", "momentum" or "adam", the update rule written out.
    """

    sections: Optional[tuple] = None
    omit: tuple = ()
    optimizer: str = "sgd"

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise SympropError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
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
