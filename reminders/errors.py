"""Errors of the reminders package."""

from signatures.errors import VerificationError


class RemindersError(Exception):
    """Root of every error raised by `reminders`."""


class ReminderCatalogueError(RemindersError):
    """The reminder catalogue (提醒事项目录: message templates per type and stage) is malformed or inconsistent."""


class MessageRenderError(RemindersError):
    """A reminder message could not be rendered, or rendered text would disclose personal data (fail closed)."""


class OutboxError(RemindersError):
    """An outbox operation was refused (unknown delivery, or a requeue of a delivery that is not dead)."""


class DeliveryError(RemindersError):
    """One delivery attempt failed; `permanent` failures are dead-lettered at once, others retried with back-off."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class WebhookVerificationError(RemindersError, VerificationError):
    """A received webhook failed verification: missing header, stale or future timestamp, or bad signature."""
