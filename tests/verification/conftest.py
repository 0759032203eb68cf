"""The API tests' region (a copy of one initialised SQLite home, on a hand-moved clock), app and keys."""

from tests.verify_api.conftest import api_clock, http, keys, region, region_template  # noqa: F401
