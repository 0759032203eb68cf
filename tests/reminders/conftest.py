"""The reminder tests build licences with the licence domain's fixtures."""

from tests.licences.conftest import catalogue, issue, vault

__all__ = ["catalogue", "issue", "vault"]
