"""Errors of the anchors package."""


class AnchorError(Exception):
    """Root of every error raised by `anchors`."""
