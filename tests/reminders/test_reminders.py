"""The pure part of the expiry reminders: stages (agreeing with the aggregate), messages, the reminder catalogue's
strict loading, payloads, delivery ids, back-off, metrics and the background loop."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licences.catalogue import Catalogue
from licences.catalogue.model import Channel
from licences.domain import Licence
from reminders.errors import MessageRenderError, ReminderCatalogueError
from reminders.messages import (
    SAMPLE_REMINDER,
    load_reminder_catalogue,
    parse_reminder_catalogue,
    read_reminder_document,
    refuse_id_numbers,
)
from reminders.model import (
    UNKNOWN_HOLDER,
    DueLicence,
    Month,
    OwnerKind,
    Recipient,
    ReminderMetrics,
    RetryPolicy,
    current_stage,
    days_left,
    delivery_id,
    digest_messages,
    due_stage,
    payload_for,
    reminder_context,
    reminder_recipients,
    stage_windows,
    zh_date,
)
from tests.licences.conftest import T0

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
ID_NUMBER = "11010519491231002X"  # a valid GB 11643 number (the standard's own example)
DAY = timedelta(days=1)


# -- Stages ------------------------------------------------------------------------------------------------------------


def test_stage_windows_tile_the_time_before_expiry() -> None:
    w90, w30, w7 = stage_windows((90, 30, 7), NOW)
    assert (w90.stage, w90.after, w90.until) == (90, NOW + 30 * DAY, NOW + 90 * DAY)
    assert (w30.stage, w30.after, w30.until) == (30, NOW + 7 * DAY, NOW + 30 * DAY)
    assert (w7.stage, w7.after, w7.until) == (7, NOW, NOW + 7 * DAY)
    assert stage_windows((), NOW) == ()


def test_current_and_due_stage() -> None:
    lead = (90, 30, 7)
    assert current_stage(lead, NOW + 91 * DAY, NOW) is None  # too early
    assert current_stage(lead, NOW + 90 * DAY, NOW) == 90  # the window opens exactly 90 days before
    assert current_stage(lead, NOW + 10 * DAY, NOW) == 30
    assert current_stage(lead, NOW, NOW) is None  # expired
    assert due_stage(lead, NOW + 10 * DAY, NOW, None) == 30
    assert due_stage(lead, NOW + 10 * DAY, NOW, 90) == 30
    assert due_stage(lead, NOW + 10 * DAY, NOW, 30) is None  # already sent
    assert due_stage(lead, NOW + 10 * DAY, NOW, 7) is None  # a tighter one was sent: nothing wider again
    assert due_stage(lead, None, NOW, None) is None  # no expiry


# `issue` mints a fresh licence on every call, so sharing the fixture across examples shares nothing that matters.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    valid_days=st.integers(min_value=2, max_value=400),
    sent_at_hours=st.lists(st.integers(min_value=0, max_value=400 * 24), max_size=4),
    check_at_hours=st.integers(min_value=0, max_value=100 * 24),
)
def test_due_stage_on_index_values_agrees_with_the_aggregate(
    issue: Callable[..., Licence],
    catalogue: Catalogue,
    valid_days: int,
    sent_at_hours: list[int],
    check_at_hours: int,
) -> None:
    """The scheduler decides from `licence_index` values (`reminded_stage` = the tightest stage sent); the aggregate
    decides from its events (the set of stages sent): as time moves forward they never disagree."""
    food = catalogue.licence_type("food-business-licence")
    licence = issue(valid_until=T0 + valid_days * DAY)
    reminded: int | None = None
    for hours in sorted(sent_at_hours):
        now = T0 + timedelta(hours=hours)
        stage = licence.due_reminder_stage(food, now)
        assert stage == due_stage(food.reminders.lead_days, licence.valid_until, now, reminded)
        if stage is not None:
            licence.record_reminder(licence_type=food, stage=stage, now=now)
            reminded = stage if reminded is None else min(reminded, stage)
    # Clocks move forward: check after the last send (going back in time is no state either side can be in).
    now = T0 + timedelta(hours=max(sent_at_hours, default=0) + check_at_hours)
    assert licence.due_reminder_stage(food, now) == due_stage(
        food.reminders.lead_days, licence.valid_until, now, reminded
    )


def test_days_left_rounds_up_and_dates_are_in_china_time() -> None:
    assert days_left(NOW + timedelta(days=6, hours=2), NOW) == 7
    assert days_left(NOW + 7 * DAY, NOW) == 7
    assert days_left(NOW - DAY, NOW) == 0
    assert zh_date(datetime(2026, 2, 28, 16, 0, tzinfo=UTC)) == "2026年3月1日"  # 00:00 on 1 March in Beijing
    assert zh_date(datetime(2026, 2, 28, 15, 59, tzinfo=UTC)) == "2026年2月28日"


def test_months_are_china_time_calendar_months() -> None:
    december = Month.of(datetime(2026, 11, 30, 17, 0, tzinfo=UTC))  # 1 December 01:00 in Beijing
    assert (december.key, december.label) == ("2026-12", "2026年12月")
    assert december.start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert december.next() == Month(2027, 1) and december.end == Month(2027, 1).start


# -- Messages ----------------------------------------------------------------------------------------------------------


def _due(catalogue: Catalogue, stage: int = 30) -> DueLicence:
    food = catalogue.licence_type("food-business-licence")
    return DueLicence(
        uuid.uuid4(),
        str(SAMPLE_REMINDER["identifier"]),
        food.code,
        "11410100007409378P",
        "ab" * 16,
        NOW + 20 * DAY,
        stage,
    )


def test_reminder_context_masks_the_holder_name(catalogue: Catalogue) -> None:
    food, dept = catalogue.licence_type("food-business-licence"), catalogue.department("zz-amr")
    context = reminder_context(_due(catalogue), food, dept, "河南省", "张三丰", NOW)
    assert context["holder_name"] == "张*丰" and context["days_left"] == 20
    assert reminder_context(_due(catalogue), food, dept, "河南省", None, NOW)["holder_name"] == UNKNOWN_HOLDER


def test_rendering_escapes_html_only_in_the_html_part(catalogue: Catalogue) -> None:
    messages = load_reminder_catalogue(catalogue)
    food = catalogue.licence_type("food-business-licence")
    message = messages.render_reminder(food, 30, {**SAMPLE_REMINDER, "holder_name": "<b>张*</b>"})
    assert "&lt;b&gt;张*&lt;/b&gt;" in message.html and "<b>张*</b>" not in message.html
    assert "<b>张*</b>" in message.text
    assert message.subject == "【河南省电子证照】您的食品经营许可证将于2026年3月1日到期"


def test_per_type_and_stage_templates_override_the_default(catalogue: Catalogue) -> None:
    messages = load_reminder_catalogue(catalogue)
    food = catalogue.licence_type("food-business-licence")
    urgent = messages.render_reminder(food, 7, SAMPLE_REMINDER)
    assert urgent.subject.startswith("【河南省电子证照】紧急") and "《食品经营许可和备案管理办法》" in urgent.text
    assert "<p>" in urgent.html  # the stage overrides subject/text/sms, the default HTML remains
    driving = messages.render_reminder(catalogue.licence_type("driving-licence"), 90, SAMPLE_REMINDER)
    assert "交管12123" in driving.sms
    with pytest.raises(MessageRenderError, match="no reminder stage 45"):
        messages.render_reminder(food, 45, SAMPLE_REMINDER)


def test_a_resident_id_number_is_never_sent(catalogue: Catalogue) -> None:
    messages = load_reminder_catalogue(catalogue)
    food = catalogue.licence_type("food-business-licence")
    with pytest.raises(MessageRenderError, match="refusing to send a resident ID number"):
        messages.render_reminder(food, 30, {**SAMPLE_REMINDER, "holder_name": ID_NUMBER})
    with pytest.raises(MessageRenderError):
        refuse_id_numbers(f"身份证{ID_NUMBER.lower()}号")
    # Identifiers, USCCs, phone numbers and an 18-digit run with a wrong check digit pass.
    refuse_id_numbers(f"{SAMPLE_REMINDER['identifier']} 91350100M000100Y43 13800000000 110105194912310021")


# -- The catalogue's strict loading ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    from importlib.resources import files

    doc = read_reminder_document(files("reminders").joinpath("messages.yaml").read_bytes())
    assert isinstance(doc, dict)
    return doc


def _broken(document: dict[str, Any], path: tuple[Any, ...], value: object) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("version",), 2, r"messages.yaml.version: expected 1"),
        (("colour",), "red", r"messages.yaml: unknown keys \['colour'\]"),
        (("default", "subject"), KeyError, r"messages.yaml.default: missing key 'subject'"),
        (("default", "text"), "{% if %}", r"messages.yaml.default.text: template does not compile"),
        (("default", "text"), "{{ holder_id }}", r"messages.yaml.default.text: .*'holder_id' is undefined"),
        (("default", "subject"), "x" * 201, r"messages.yaml.default.subject: .*subject must be 1-200"),
        (("default", "sms"), "{{ holder_name }}" + "长" * 300, r"messages.yaml.default.sms: longer than 300"),
        (("default", "text"), f"证件号{ID_NUMBER}", r"default.text: .*refusing to send a resident ID number"),
        (("types", "marriage-certificate"), {"all_stages": {"sms": "x"}}, r"has no reminder lead days"),
        (("types", "no-such-type"), {"all_stages": {"sms": "x"}}, r"types: unknown keys \['no-such-type'\]"),
        (("types", "driving-licence", "stages"), {45: {"sms": "x"}}, r"driving-licence.stages: unknown keys \['45'\]"),
        (("types", "driving-licence", "all_stages", "fax"), "x", r"all_stages: unknown keys \['fax'\]"),
        (("digest", "max_items"), 0, r"messages.yaml.digest.max_items: expected 1..5000"),
        (("digest", "text"), "{{ items.0.holder_name }}", r"digest.text: .*has no attribute 'holder_name'"),
    ],
)
def test_bad_reminder_catalogue_data_fails_naming_the_place(
    document: dict[str, Any], catalogue: Catalogue, path: tuple[Any, ...], value: object, message: str
) -> None:
    with pytest.raises(ReminderCatalogueError, match=message):
        parse_reminder_catalogue(_broken(document, path, value), catalogue)


def test_the_packaged_catalogue_loads_and_bad_yaml_is_refused(document: dict[str, Any], catalogue: Catalogue) -> None:
    assert parse_reminder_catalogue(document, catalogue).max_digest_items == 500
    with pytest.raises(ReminderCatalogueError, match="not valid UTF-8 YAML"):
        read_reminder_document(b"default: [unclosed")
    with pytest.raises(ReminderCatalogueError, match="larger than"):
        read_reminder_document(yaml.safe_dump({"x": "y" * 300_000}).encode())


# -- Outbox payloads, ids, back-off, metrics ---------------------------------------------------------------------------


def test_payloads_carry_only_what_the_channel_sends(catalogue: Catalogue) -> None:
    message = load_reminder_catalogue(catalogue).render_reminder(
        catalogue.licence_type("food-business-licence"), 30, SAMPLE_REMINDER
    )
    assert set(yaml.safe_load(payload_for(Channel.EMAIL, message, {}))) == {"subject", "text", "html"}
    assert set(yaml.safe_load(payload_for(Channel.SMS, message, {}))) == {"sms"}
    assert set(yaml.safe_load(payload_for(Channel.WEBHOOK, message, {"stage": 30}))) == {"data", "subject", "text"}


def test_delivery_ids_are_stable_per_reference_and_recipient(catalogue: Catalogue) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert delivery_id("reminder/x/7", a) == delivery_id("reminder/x/7", a)
    assert len({delivery_id("reminder/x/7", a), delivery_id("reminder/x/7", b), delivery_id("reminder/x/8", a)}) == 3
    dept = catalogue.department("zz-amr")
    recipients = [Recipient(a, OwnerKind.DEPARTMENT, Channel.WEBHOOK), Recipient(b, OwnerKind.DEPARTMENT, Channel.SMS)]
    message = load_reminder_catalogue(catalogue).render_reminder(
        catalogue.licence_type("food-business-licence"), 30, SAMPLE_REMINDER
    )
    (digest,) = digest_messages(dept, Month(2026, 12), recipients, message, {})  # no digest by SMS
    assert digest.id == delivery_id(f"digest/{dept.uscc}/2026-12", a) and digest.month == "2026-12"
    driving = catalogue.licence_type("driving-licence")
    assert reminder_recipients(driving, recipients) == [recipients[1]]  # 机动车驾驶证 reminds by SMS only


def test_retry_delay_is_exponential_with_equal_jitter_and_capped() -> None:
    policy = RetryPolicy(max_attempts=5, base=timedelta(seconds=30), cap=timedelta(minutes=10))
    assert policy.delay(1, lambda: 0.0) == timedelta(seconds=15)
    assert policy.delay(1, lambda: 1.0) == timedelta(seconds=30)
    assert policy.delay(3, lambda: 0.5) == timedelta(seconds=90)  # ceiling 120 s: 60 fixed + 30 random
    assert policy.delay(40, lambda: 1.0) == timedelta(minutes=10)
    assert not policy.exhausted(4) and policy.exhausted(5)
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(max_attempts=0)


def test_metrics_count_and_refuse_unknown_names() -> None:
    metrics = ReminderMetrics()
    metrics.add(due=3, sent=2)
    metrics.add(sent=1)
    assert metrics.snapshot() | {} == {
        "due": 3,
        "recorded": 0,
        "skipped": 0,
        "queued": 0,
        "sent": 3,
        "failed": 0,
        "dead_lettered": 0,
        "cancelled": 0,
        "digests": 0,
    }
    with pytest.raises(AttributeError, match="no reminder counter 'bogus'"):
        metrics.add(bogus=1)
