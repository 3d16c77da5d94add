"""The lecture notes as a list of sections, each built by its own builder.

A builder (a ``SectionBuilder`` subclass in a module of its own) turns the
shared ``Notes`` context into view-model ``Section``s; the notes are the
sections of the builders in ``SECTIONS``, in that order, less those switched
off.  Adding a section is a module with its builder, one entry here and, when
it needs a layout of its own, one template block
(templates/sections/<name>.tex.j2 and .md.j2).
"""

from __future__ import annotations

from ..errors import SympropError
from ..outputs import GENERATED_MARK, header
from .backward import BackwardSection
from .batch import BatchSection
from .chain import ChainSection
from .computation_graph import GraphSection
from .context import Notes, SectionBuilder
from .exercises import ExercisesSection
from .gradcheck import GradcheckSection
from .opgraph import OpGraphSection
from .options import NoteOptions
from .mistakes import MistakesSection
from .network import NetworkSection
from .notation import NotationSection
from .reading import ReadingSection
from .recurrence import RecurrenceSection
from .update import UpdateSection
from .vanishing import VanishingSection
from .view import Document, Section, _Format
from .worked import WorkedSection

SECTIONS = (
    NotationSection, NetworkSection, GraphSection, OpGraphSection, BackwardSection, RecurrenceSection, ChainSection, BatchSection,
    UpdateSection, WorkedSection, ReadingSection, GradcheckSection, VanishingSection, MistakesSection, ExercisesSection,
)
SECTION_NAMES = tuple(builder.key for builder in SECTIONS)


def selected_builders(sections=None, omit=()) -> tuple:
    """The builders of ``sections`` (names; default: all) less those in ``omit``, in the notes' order.

    A builder whose section does not apply (the chain rule path by path of a
    matrix network, the worked example without values) contributes nothing.
    """
    wanted = SECTION_NAMES if sections is None else tuple(sections)
    unknown = sorted(set(wanted) - set(SECTION_NAMES) | set(omit) - set(SECTION_NAMES))
    if unknown:
        raise SympropError(f"unknown section(s) {', '.join(map(repr, unknown))}; the sections are {', '.join(SECTION_NAMES)}")
    return tuple(b for b in SECTIONS if b.key in wanted and b.key not in omit)


def build(notes: Notes) -> Document:
    """The Document of the notes: the sections of every builder the options select, in order."""
    builders = selected_builders(notes.options.sections, notes.options.omit)
    built = {builder.key: builder(notes).build() for builder in builders if not builder.after_the_rest}
    for builder in builders:
        if builder.after_the_rest:  # the notation box: what the others printed
            built[builder.key] = builder(notes).summarize([sec for secs in built.values() for sec in secs])
    sections = []
    for builder in builders:
        for sec in built[builder.key]:
            sections.append(Section(notes.fmt.escape(sec.title), sec.level, tuple(b for b in sec.blocks if b is not None),
                                    builder.key))
    title = notes.fmt.escape(f"Backpropagation in the {notes.net.name}")
    subtitle = notes.fmt.prose("Every step of the backward pass, derived by symprop")
    comment = "%" if notes.fmt.name == "tex" else "<!--"
    what = " ".join(str(notes.net.name).split()).replace("--", "- -")
    first_line = header(comment, what) + (" -->" if notes.fmt.name == "md" else "")
    return Document(
        first_line, title, subtitle, tuple(sections), tuple(notes.numbers), pdf_creator=f"/Creator ({GENERATED_MARK})"
    )


__all__ = ["NoteOptions", "Notes", "SECTIONS", "SECTION_NAMES", "SectionBuilder", "build", "selected_builders", "_Format"]
