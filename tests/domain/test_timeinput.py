"""Human time input: every accepted form; clear refusals for DST gaps, overlaps, the future."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidents.domain.timeinput import ensure_not_future, parse_human_time
from incidents.errors import InvalidTime

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # 16:30 in Berlin (CET, +01:00)


def parse(text: str, tz: str = "UTC", now: datetime = NOW) -> datetime:
    return parse_human_time(text, tz=tz, now=now)


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-11-25T09:40:00-05:00", "UTC", datetime(2026, 11, 25, 14, 40, tzinfo=UTC)),
        ("2026-11-25T14:40Z", "Europe/Berlin", datetime(2026, 11, 25, 14, 40, tzinfo=UTC)),
        ("2026-11-25 09:40 Europe/Berlin", "UTC", datetime(2026, 11, 25, 8, 40, tzinfo=UTC)),
        ("2026-11-25 09:40", "America/New_York", datetime(2026, 11, 25, 14, 40, tzinfo=UTC)),
        ("14:05", "Europe/Berlin", datetime(2026, 11, 25, 13, 5, tzinfo=UTC)),
        ("14:05", "UTC", datetime(2026, 11, 25, 14, 5, tzinfo=UTC)),
        ("14:05 CET", "America/New_York", datetime(2026, 11, 25, 13, 5, tzinfo=UTC)),
        ("9:05 est", "UTC", datetime(2026, 11, 25, 14, 5, tzinfo=UTC)),
        ("yesterday 23:50 Europe/Berlin", "UTC", datetime(2026, 11, 24, 22, 50, tzinfo=UTC)),
        ("today 00:10", "Asia/Tokyo", datetime(2026, 11, 25, 15, 10, tzinfo=UTC)),
        ("2026-11-01", "Europe/Berlin", datetime(2026, 10, 31, 23, 0, tzinfo=UTC)),
        ("now", "UTC", NOW),
        ("  NOW ", "UTC", NOW),
    ],
)
def test_absolute_forms(text, tz, expected):
    result = parse(text, tz)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("10m ago", timedelta(minutes=10)),
        ("1h30m ago", timedelta(hours=1, minutes=30)),
        ("2 hours ago", timedelta(hours=2)),
        ("90s ago", timedelta(seconds=90)),
        ("3d", timedelta(days=3)),
        ("1 week ago", timedelta(weeks=1)),
        ("5 min ago", timedelta(minutes=5)),
    ],
)
def test_relative_forms(text, delta):
    assert parse(text) == NOW - delta


def test_relative_form_with_unknown_unit_names_the_unit():
    with pytest.raises(InvalidTime, match="unknown unit 'fortnights'"):
        parse("2 fortnights ago")


def test_nonexistent_local_time_in_spring_gap_is_refused():
    # Europe/Berlin skips 02:00-03:00 on 2026-03-29.
    with pytest.raises(InvalidTime, match="does not exist in Europe/Berlin"):
        parse("2026-03-29 02:30", "Europe/Berlin")


def test_ambiguous_local_time_in_autumn_overlap_is_refused_with_both_offsets():
    # Europe/Berlin repeats 02:00-03:00 on 2026-10-25.
    with pytest.raises(InvalidTime) as caught:
        parse("2026-10-25 02:30 Europe/Berlin")
    assert "happened twice" in caught.value.message
    assert "+0200" in caught.value.message and "+0100" in caught.value.message


def test_an_explicit_offset_resolves_the_autumn_overlap():
    assert parse("2026-10-25T02:30+01:00") == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_future_time_is_refused_with_the_reason():
    with pytest.raises(InvalidTime, match="is in the future") as caught:
        parse("17:00", "Europe/Berlin")
    assert "yesterday" in caught.value.message


def test_future_is_allowed_when_asked_for():
    assert parse_human_time("2026-12-01", tz="UTC", now=NOW, allow_future=True) == datetime(
        2026, 12, 1, tzinfo=UTC
    )


def test_a_few_seconds_of_client_skew_count_as_now():
    assert parse("2026-11-25T15:30:03Z") == NOW


@pytest.mark.parametrize("text", ["", "soon", "25:99", "yesterday 2026-11-01", "14:05 Mars/Base"])
def test_garbage_is_refused_with_a_message(text):
    with pytest.raises(InvalidTime) as caught:
        parse(text)
    assert caught.value.message


def test_unknown_default_timezone_is_refused():
    with pytest.raises(InvalidTime, match="unknown timezone"):
        parse("14:05", "Nowhere/Special")


def test_ensure_not_future_names_every_late_field():
    with pytest.raises(InvalidTime) as caught:
        ensure_not_future(
            {"a": NOW + timedelta(hours=1), "b": NOW, "c": None, "d": NOW + timedelta(days=1)},
            now=NOW,
        )
    assert caught.value.fields == ["a", "d"]


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 24)))
def test_iso_round_trip_is_exact(naive):
    value = naive.replace(tzinfo=UTC, microsecond=0)
    assert parse(value.isoformat()) == value


@given(st.text(max_size=40))
def test_any_text_yields_a_past_time_or_a_clear_refusal(text):
    try:
        result = parse(text, "Europe/Berlin")
    except InvalidTime as exc:
        assert exc.message
    else:
        assert result <= NOW
        assert result.tzinfo is UTC
