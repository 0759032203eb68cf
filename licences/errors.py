"""Errors of the licences package.

Every error raised by `licences` derives from `LicenceError`. Input errors name the field so that the API can answer
with a 422 pointing at it; lifecycle errors name the invariant that refused the command.
"""

from ledger import errors as ledger_errors


class LicenceError(Exception):
    """Root of every error raised by `licences`."""


class InvalidFieldError(LicenceError, ValueError):
    """An input field failed validation; `field` names it for the 422 answer."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"invalid {field}: {reason}")
        self.field = field
        self.reason = reason


class CatalogueError(LicenceError):
    """The licence catalogue data is malformed, inconsistent or names something unknown."""


class UnknownLicenceTypeError(CatalogueError, KeyError):
    """No licence type with this code is in the catalogue."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown licence type"


class UnknownDepartmentError(CatalogueError, KeyError):
    """No department with this key or USCC is in the catalogue."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown department"


class UnauthorisedDepartmentError(LicenceError):
    """A department tried to act on a licence type it is not authorised for."""


class LifecycleError(LicenceError):
    """A lifecycle command broke an invariant of the licence (e.g. renewing a revoked licence)."""


class LicenceRevokedError(LifecycleError):
    """The licence is revoked: nothing but reading it is allowed any more."""


class LicenceSuspendedError(LifecycleError):
    """The command is not allowed while the licence is suspended."""


class NotSuspendedError(LifecycleError):
    """Only a suspended licence can be reinstated."""


class RenewalNotAllowedError(LifecycleError):
    """The licence cannot be renewed now (no expiry, outside the renewal window, or already expired)."""


class NothingToAmendError(LifecycleError):
    """An amendment that changes nothing is refused so that versions stay meaningful."""


class VersionExhaustedError(LifecycleError):
    """The 3-digit identifier version would exceed 999."""


class ReminderError(LifecycleError):
    """An expiry reminder stage was already recorded, or is not due."""


class PrivacyError(LicenceError):
    """Holder personal data could not be sealed or opened."""


class HolderDataShreddedError(PrivacyError):
    """The holder's key has been shredded: the personal data is gone for good."""


class LicenceNotFoundError(LicenceError, LookupError):
    """No licence with this id or identifier is in the library."""


class ConcurrentUpdateError(LicenceError, ledger_errors.ConcurrentUpdateError):
    """Another writer changed the same licence (or registry entry) first; the command wrote nothing.

    Raised by `licences.recording.Recording`; a `ledger.errors.ConcurrentUpdateError` too, for code below licences.
    """


class IdempotencyConflictError(LicenceError):
    """An idempotency key was reused for a different request; the command wrote nothing."""


class RegistryError(LicenceError):
    """The issuer and key registry refused a change (unknown issuer or key, no usable signing key)."""


class ImportFileError(LicenceError):
    """A bulk-import source file cannot be read as a whole (unknown format, missing or unknown column, bad encoding)."""


class HolderAlreadyHoldsError(LicenceError):
    """The holder already holds an active licence of a type a person may hold only one of (`one_per_holder`)."""

    def __init__(self, type_name: str, existing: str) -> None:
        super().__init__(f"the holder already holds an active {type_name}: {existing} (revoke it, or renew it)")
        self.existing = existing
