"""Impact models against hand-computed figures, with ranges, ongoing and mitigated incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from incidents.domain.impact import Range, Window, as_range, estimate
from incidents.errors import InvalidInput

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def window(hours_to_detect=0.5, hours_to_mitigate: float | None = 2.0, now_hours=5.0, known=True):
    return Window(
        impact_started_at=T0,
        detected_at=T0 + timedelta(hours=hours_to_detect),
        mitigated_at=None if hours_to_mitigate is None else T0 + timedelta(hours=hours_to_mitigate),
        now=T0 + timedelta(hours=now_hours),
        impact_start_known=known,
    )


def test_generic_model_mitigated_with_a_range():
    # 20–30% of 1,000 orders/h at 50 €/order for 2 h: 20,000–30,000 €
    result = estimate(
        "generic",
        {"affected_share": [0.2, 0.3], "volume_per_hour": 1000, "value_per_unit": 50},
        window(),
    )
    assert result.total == Range(20_000, 30_000)
    assert result.per_hour == Range(10_000, 15_000)
    assert result.hours == 2.0 and not result.ongoing
    assert result.detection_delay == Range(5_000, 7_500)  # half an hour before detection
    assert "× hours of impact" in result.formula


def test_ongoing_incident_counts_to_now():
    result = estimate(
        "generic",
        {"affected_share": 1, "volume_per_hour": 10, "value_per_unit": 2},
        window(hours_to_mitigate=None, now_hours=3),
    )
    assert result.ongoing and result.hours == 3.0 and result.total == Range(60, 60)


def test_credit_model_expected_loss_per_day_of_exposure():
    # 2,400 approvals/day × ΔPD 0.02 × LGD 0.45 × EAD 10,000 = 216,000 €/day; 6 h = 54,000 €
    result = estimate(
        "credit",
        {"approvals_per_day": 2400, "delta_pd": [0.01, 0.02], "lgd": 0.45, "ead": 10_000},
        window(hours_to_mitigate=6),
    )
    assert result.total.low == pytest.approx(27_000)
    assert result.total.high == pytest.approx(54_000)
    assert result.per_hour.high == pytest.approx(9_000)


def test_conversion_model():
    # Δrate 0.05 × 2,000 sessions/h × 12 € × 4 h = 4,800 €
    result = estimate(
        "conversion",
        {"delta_rate": 0.05, "volume_per_hour": 2000, "value_per_unit": 12},
        window(hours_to_mitigate=4),
    )
    assert result.total.low == pytest.approx(4800) and result.total.exact


def test_detection_delay_is_left_out_when_impact_start_was_defaulted():
    result = estimate(
        "conversion",
        {"delta_rate": 0.1, "volume_per_hour": 10, "value_per_unit": 1},
        window(known=False),
    )
    assert result.detection_delay is None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"volume_per_hour": 1, "value_per_unit": 1}, "affected_share"),
        ({"affected_share": 1.5, "volume_per_hour": 1, "value_per_unit": 1}, "affected_share"),
        (
            {"affected_share": [0.3, 0.2], "volume_per_hour": 1, "value_per_unit": 1},
            "affected_share",
        ),
        ({"affected_share": 0.1, "volume_per_hour": -5, "value_per_unit": 1}, "volume_per_hour"),
        (
            {"affected_share": 0.1, "volume_per_hour": [1, 2, 3], "value_per_unit": 1},
            "volume_per_hour",
        ),
    ],
)
def test_bad_inputs_name_the_field(values, field):
    with pytest.raises(InvalidInput) as caught:
        estimate("generic", values, window())
    assert caught.value.fields == [field]


def test_unknown_model_and_range_helpers():
    with pytest.raises(InvalidInput):
        estimate("vibes", {}, window())
    assert as_range(3, name="x") == Range(3, 3)
    assert (Range(1, 2) * Range(3, 4)) == Range(3, 8)


def test_affected_counts_follow_each_model():
    # generic: 20–30% of 1,000 orders/h for 2 h = 400–600 transactions
    generic = estimate(
        "generic",
        {"affected_share": [0.2, 0.3], "volume_per_hour": 1000, "value_per_unit": 50},
        window(),
    )
    assert generic.affected == Range(400, 600) and generic.unit == "transactions"
    # credit: 2,400 approvals/day for 2 h = 200 approvals made with the drifted model
    credit = estimate(
        "credit",
        {"approvals_per_day": 2400, "delta_pd": 0.02, "lgd": 0.45, "ead": 10_000},
        window(),
    )
    assert credit.affected == Range(200, 200) and credit.unit == "loan approvals"
    # conversion: every session of the 2 h is exposed, whatever the rate drop
    conversion = estimate(
        "conversion",
        {"delta_rate": [0.05, 0.1], "volume_per_hour": 630, "value_per_unit": 6.5},
        window(),
    )
    assert conversion.affected == Range(1260, 1260) and conversion.unit == "sessions"
