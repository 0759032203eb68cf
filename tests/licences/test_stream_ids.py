"""Licence stream ids cannot be computed from a printed identifier (docs/adr/0013): they are keyed with a secret
derived from the region's holder salt, yet deterministic so that a retried issue or import lands on the same stream."""

from __future__ import annotations

from uuid import uuid5

from licences.identifiers import parse_identifier
from licences.values import LICENCE_NAMESPACE, licence_id_for, stream_key

IDENTIFIER = parse_identifier("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U")


def test_the_stream_id_is_keyed_deterministic_and_shared_by_every_version() -> None:
    key = stream_key(b"s" * 32)
    first = licence_id_for(IDENTIFIER, key)
    assert first == licence_id_for(IDENTIFIER, key)  # a retry lands on the same stream
    assert first == licence_id_for(IDENTIFIER.with_version(2), key)  # all versions share the stream
    assert first.version == 8  # RFC 9562 UUIDv8
    assert first.variant == "specified in RFC 4122"


def test_without_the_key_the_id_cannot_be_computed_from_the_identifier() -> None:
    ours = licence_id_for(IDENTIFIER, stream_key(b"s" * 32))
    guessed_computable = uuid5(LICENCE_NAMESPACE, f"{IDENTIFIER.type_code}.{IDENTIFIER.issuer}.{IDENTIFIER.serial}")
    other_region = licence_id_for(IDENTIFIER, stream_key(b"t" * 32))
    assert ours not in {guessed_computable, other_region}
    assert stream_key(b"s" * 32) != b"s" * 32  # the salt itself is never the key
