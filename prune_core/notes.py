"""The notes beside a pruning result, made in one place and tagged by kind.

A note is read by people (the page's info boxes, the CLI, exported records as plain text); code that
needs to know what a note says reads its `kind`, never its words.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .structural import StructuralPlan
from .targets import tied_head_note


class NoteKind(Enum):
    TIED_HEAD = "tied head"  # a pruned head shares its matrix with the input embeddings
    UNITS_REMOVED = "units removed"  # how many whole neurons or heads went
    METHOD = "method"  # what the method or the allocation reports (calibration, OWL, training)
    CAVEAT = "caveat"  # about the model's weights themselves (the model card's caveat)


@dataclass(frozen=True)
class Note:
    kind: NoteKind
    text: str


def units_removed(plan: StructuralPlan) -> Note:
    total = sum(plan.units)
    return Note(NoteKind.UNITS_REMOVED, f"removed {plan.removed} of {total} {plan.unit}s ({plan.removed / total:.1%})")


def result_notes(loaded, targets: list, method_notes: list[str], plan: StructuralPlan | None) -> list[Note]:
    """Every note of one pruning result, in the order they are shown: the tied head, the units removed,
    what the method reported, the model's caveat."""
    notes = []
    tied = tied_head_note(loaded.model, targets)
    if tied:
        notes.append(Note(NoteKind.TIED_HEAD, tied))
    if plan is not None:
        notes.append(units_removed(plan))
    notes += [Note(NoteKind.METHOD, text) for text in method_notes]
    if loaded.card.caveat:
        notes.append(Note(NoteKind.CAVEAT, loaded.card.caveat))
    return notes
