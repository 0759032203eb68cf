"""Trusted checkpoints for the audit (`trustledger audit --trusted-checkpoint FILE`, docs/formats.md).

A file holds one or more signed notes exactly as published (C2SP signed-note: the text, a blank line, then its
signature lines, each `— <name> <base64>`), one after another, separated by one or more blank lines. A witness's
or peer's stored view may carry cosignature lines of others: lines by keys other than our log key are ignored, and so
are notes our key did not sign (another log's checkpoint). A note that claims our key with a bad signature, a
malformed note, or a file with no note signed by our key is refused (`TrustedFileError`, a usage error).
"""

from __future__ import annotations

from ledger.audit import TrustedCheckpoint
from ledger.errors import LedgerError
from signatures.errors import SignatureError
from signatures.note import NoteVerifier, open_checkpoint, split_note

MAX_TRUSTED_FILE_BYTES = 1 << 20  # a few thousand notes; a file that crosses a process boundary has a size cap
_SIGNATURE_LINE_START = "— "  # U+2014 and a space: a signature line; a checkpoint's text never starts so


class TrustedFileError(LedgerError):
    """The trusted-checkpoint file cannot be used (unreadable, malformed, or nothing in it signed by our key)."""


def split_notes(text: str) -> list[str]:
    """The signed notes of a file, each as `text\n\nsignatures\n`; raises `TrustedFileError` on a bad layout."""
    notes: list[str] = []
    body: list[str] = []
    signatures: list[str] = []
    state = "between"  # between notes → text → gap (the one blank line) → signatures → between
    for number, line in enumerate(text.split("\n"), start=1):
        is_signature, is_blank = line.startswith(_SIGNATURE_LINE_START), line == ""
        if state == "between" and not is_blank:
            if is_signature:
                raise TrustedFileError(f"line {number}: a signature line with no note text before it")
            body, state = [line], "text"
        elif state == "text":
            if is_signature:
                raise TrustedFileError(f"line {number}: signature lines must follow the note text after a blank line")
            state = "gap" if is_blank else state
            body += [] if is_blank else [line]
        elif state == "gap":
            if not is_signature:
                raise TrustedFileError(f"line {number}: the note above has no signature lines")
            signatures, state = [line], "signatures"
        elif state == "signatures":
            if not (is_signature or is_blank):
                raise TrustedFileError(f"line {number}: notes must be separated by a blank line")
            if is_blank:
                notes.append("\n".join(body) + "\n\n" + "\n".join(signatures) + "\n")
                state = "between"
            else:
                signatures.append(line)
    if state == "signatures":
        notes.append("\n".join(body) + "\n\n" + "\n".join(signatures) + "\n")
    elif state != "between":
        raise TrustedFileError("the file ends with note text that has no signature lines")
    return notes


def read_trusted(data: bytes, where: str, verifier: NoteVerifier, origin: str) -> list[TrustedCheckpoint]:
    """The checkpoints of our log in a trusted-checkpoint file (`where` names it in messages)."""
    if len(data) > MAX_TRUSTED_FILE_BYTES:
        raise TrustedFileError(f"{where}: larger than {MAX_TRUSTED_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TrustedFileError(f"{where}: not UTF-8") from exc
    found: list[TrustedCheckpoint] = []
    for number, note in enumerate(split_notes(text.replace("\r\n", "\n")), start=1):
        try:
            _, signatures = split_note(note)
        except SignatureError as exc:
            raise TrustedFileError(f"{where}: note {number}: {exc}") from exc
        if not any((s.name, s.key_id) == (verifier.name, verifier.key_id) for s in signatures):
            continue  # another log's note, or a witness's alone: not ours to check
        try:
            body = open_checkpoint(note, verifier, origin)
        except SignatureError as exc:
            raise TrustedFileError(f"{where}: note {number} claims our log key but does not verify: {exc}") from exc
        found.append(TrustedCheckpoint(body, f"{where}, note {number}"))
    if not found:
        raise TrustedFileError(f"{where}: holds no checkpoint signed by our log key ({verifier.name})")
    return found


__all__ = ["MAX_TRUSTED_FILE_BYTES", "TrustedFileError", "read_trusted", "split_notes"]
