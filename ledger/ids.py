"""Ids of the log: a leaf's position, validated once where it enters (a stored row, a route, a CLI argument)."""

from __future__ import annotations

from typing import NewType

LeafIndex = NewType("LeafIndex", int)
"""The 0-based position of a leaf in the log (RFC 9162 §2.1), non-negative once it has entered."""
