"""Contact addresses, validated where they enter (`ContactStore.subscribe`, the CLI's `remind subscribe`).

- SMS: a Chinese mainland mobile number, 11 digits starting 13–19 (GB/T 11598 numbering; the SMS gateway of the
  region delivers to mainland numbers only); `+86` or `86` before it is accepted and dropped, nothing else is;
- e-mail: `local@domain`, the local part in the RFC 5322 dot-atom characters (1–64), a domain of at least two
  labels (letters and digits of any script, inner hyphens), 254 characters at most (RFC 5321 §4.5.3.1);
- webhook: an http(s) URL without spaces or control characters, 2,000 characters at most.

Canonical forms are stored, so the same address given twice is one subscription.
"""

from __future__ import annotations

import re

from licences.catalogue import Channel
from reminders.errors import RemindersError

MAX_EMAIL = 254
MAX_URL = 2000
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9][0-9]{9})")
_EMAIL = re.compile(
    r"(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}(?<!\.)"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W_](?:[\w-]{0,61}[^\W_])?"
)
_URL = re.compile(r"https?://[^\s/?#]+[^\s]*")


class ContactAddressError(RemindersError, ValueError):
    """A contact address is not valid for its channel; `field` names the channel (`sms`, `email`, `webhook`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def parse_address(channel: Channel, address: str) -> str:
    """The canonical form of `address` for `channel`, or `ContactAddressError` naming the channel."""
    text = address.strip()
    if not text.isprintable():
        raise ContactAddressError(channel.value, "has a control character")
    if channel is Channel.SMS:
        mobile = _MOBILE.fullmatch(text)
        if mobile is None:
            raise ContactAddressError("sms", f"{text!r} is not a mainland mobile number (11 digits, 13…–19…)")
        return mobile.group(1)
    if channel is Channel.EMAIL:
        if len(text) > MAX_EMAIL or _EMAIL.fullmatch(text) is None:
            raise ContactAddressError("email", f"{text!r} is not an e-mail address")
        local, domain = text.rsplit("@", 1)
        return f"{local}@{domain.lower()}"
    if len(text) > MAX_URL or _URL.fullmatch(text) is None:
        raise ContactAddressError("webhook", "must be an http(s) URL")
    return text
