"""Contact addresses are validated where they enter: the contacts store, naming the channel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.store import make_engine
from licences.catalogue import Channel
from reminders.addresses import ContactAddressError, parse_address
from reminders.model import OwnerKind
from reminders.store_outbox import OutboxStore
from tests.conftest import FakeClock


@pytest.mark.parametrize(
    ("channel", "given", "canonical"),
    [
        (Channel.SMS, "13800000000", "13800000000"),
        (Channel.SMS, " +8619912345678 ", "19912345678"),
        (Channel.EMAIL, "Zhang.San@Example.COM", "Zhang.San@example.com"),
        (Channel.EMAIL, "li@例子.中国", "li@例子.中国"),
        (Channel.WEBHOOK, "https://dept.example/hook", "https://dept.example/hook"),
    ],
)
def test_good_addresses_are_kept_in_canonical_form(channel: Channel, given: str, canonical: str) -> None:
    assert parse_address(channel, given) == canonical


@pytest.mark.parametrize(
    ("channel", "given"),
    [
        (Channel.SMS, "13800"),  # five digits
        (Channel.SMS, "12800000000"),  # no mainland mobile number starts 12
        (Channel.SMS, "138000000001"),
        (Channel.SMS, "1380000000a"),
        (Channel.EMAIL, "zhang"),
        (Channel.EMAIL, "zhang@localhost"),
        (Channel.EMAIL, "a..b@example.com"),
        (Channel.EMAIL, "a@b\x00.c"),
        (Channel.WEBHOOK, "ftp://dept.example"),
    ],
)
def test_bad_addresses_are_refused_naming_the_channel(channel: Channel, given: str) -> None:
    with pytest.raises(ContactAddressError) as exc:
        parse_address(channel, given)
    assert exc.value.field == channel.value


@pytest.fixture
def outbox(db_url: str) -> Iterator[OutboxStore]:
    engine = make_engine(db_url)
    store = OutboxStore(engine)
    store.create_tables()
    yield store
    engine.dispose()


def test_the_store_refuses_a_five_digit_sms_number_and_stores_canonical_forms(outbox: OutboxStore) -> None:
    clock = FakeClock()
    with pytest.raises(ContactAddressError, match="sms"):
        outbox.subscribe(OwnerKind.HOLDER, "ab" * 16, Channel.SMS, "13800", clock())
    sub = outbox.subscribe(OwnerKind.HOLDER, "ab" * 16, Channel.SMS, "+86 13800000000".replace(" ", ""), clock())
    assert sub.address == "13800000000"
    assert outbox.subscribe(OwnerKind.HOLDER, "ab" * 16, Channel.SMS, "13800000000", clock()).id == sub.id
