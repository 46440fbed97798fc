"""The plain-string states, kinds and policies of the data model, as ``StrEnum``s.

A ``StrEnum`` member *is* its string (``FieldKind.TITLE == "title"``), so what is stored and
compared does not change: the columns keep holding the same text.
"""

from __future__ import annotations

from enum import StrEnum


class FieldKind(StrEnum):
    """What a mapped sheet column is on the card (``server.models.mapping.FieldMap.kind``)."""

    TITLE = "title"  # the card's name
    STATUS = "status"  # the card's list, through the status ⇄ list tables
    DESCRIPTION = "description"  # a "Column: value" line of the card's description
    DUE = "due"  # the card's due date


class Direction(StrEnum):
    """Which way a mapped field's changes travel (``server.models.mapping.FieldMap.direction``)."""

    BOTH = "both"  # sheet → card and card → sheet; every field of today's mappings
