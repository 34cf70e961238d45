"""Slice scan: the chatbot scenario (Simpson-style masking), BH, Fisher, verdicts, validation."""

from __future__ import annotations

import pytest
from scipy.stats import fisher_exact

from incidents.domain.slices import ScanOptions, SliceCounts, scan, slice_key
from incidents.domain.stats import two_proportion_test, wilson_interval
from incidents.errors import InvalidInput

# The chatbot scenario: satisfied sessions per language, reference week → current week.
# language: (reference satisfied, reference sessions, current satisfied, current sessions)
CHATBOT = {
    "en": (36_000, 40_000, 72_000, 80_000),  # 90.0% → 90.0%, traffic doubles (big, flat)
    "de": (8_500, 10_000, 1_500, 2_000),  # 85.0% → 75.0%: −10 pp, n = 2000
    "es": (6_880, 8_000, 1_170, 1_500),  # 86.0% → 78.0%: −8 pp, n = 1500
    "fr": (5_040, 6_000, 936, 1_200),  # 84.0% → 78.0%: −6 pp, n = 1200
    "it": (850, 1_000, 225, 300),  # 85.0% → 75.0%: −10 pp, but only n = 300
    "pt": (19_400, 20_000, 19_200, 20_000),  # 97.0% → 96.0%: −1 pp at n = 20000
}
# Raw aggregates:   reference 76,670 / 85,000 = 90.20%;  current 95,031 / 105,000 = 90.51%
#   (flat, even up 0.3 pp, because traffic moved to en, the best big slice).
# Mix-adjusted current rate, weights = reference sessions / 85,000:
#   (40000·0.90 + 10000·0.75 + 8000·0.78 + 6000·0.78 + 1000·0.75 + 20000·0.96) / 85000
#   = (36000 + 7500 + 6240 + 4680 + 750 + 19200) / 85000 = 74370 / 85000 = 87.49%  (−2.7 pp)


def counts(table):
    return [SliceCounts({"language": name}, *row) for name, row in table.items()]


def by_language(result):
    return {r.slice["language"]: r for r in result.slices}


def test_chatbot_flat_aggregate_hides_three_degraded_languages():
    result = scan(counts(CHATBOT))
    assert result.reference_rate == pytest.approx(76_670 / 85_000)  # 0.9020
    assert result.current_rate == pytest.approx(95_031 / 105_000)  # 0.9051
    assert result.mix_adjusted_current_rate == pytest.approx(74_370 / 85_000)  # 0.8749
    assert [r.key for r in result.flagged] == ["language=de", "language=es", "language=fr"]
    slices = by_language(result)
    assert {name: (r.verdict, r.severity) for name, r in slices.items()} == {
        "en": ("ok", None),
        "de": ("flagged", "SEV2"),
        "es": ("flagged", "SEV2"),
        "fr": ("flagged", "SEV2"),
        "it": ("insufficient data", None),
        "pt": ("ok", None),
    }
    assert [r.key for r in result.slices] == [f"language={name}" for name in CHATBOT]


def test_chatbot_slice_figures():
    slices = by_language(scan(counts(CHATBOT)))
    de = slices["de"]
    assert (de.reference_rate, de.current_rate) == (0.85, 0.75)
    assert de.drop == pytest.approx(0.10)
    assert de.current_interval == pytest.approx(wilson_interval(1_500, 2_000))
    assert de.current_interval[0] < 0.75 < de.current_interval[1]
    # de: pooled p = 10000/12000 = 0.8333, SE = √(0.8333·0.1667·(1/10000 + 1/2000)) = 0.009129,
    # z = (0.75 − 0.85)/0.009129 = −10.954
    assert de.method == "z" and de.z == pytest.approx(-10.954, abs=1e-3)
    assert (de.reference_total, de.current_total) == (10_000, 2_000)
    assert (
        de.reason
        == "drop 10.0 pp (85.0% → 75.0%, BH p<0.0001), n=2000: SEV2 as the drop is ≥ 5.0 pp"
    )
    # six slices are tested; BH adjusts every p-value upwards
    assert all(r.adjusted_p_value is not None for r in slices.values())
    assert all(r.adjusted_p_value >= r.p_value for r in slices.values())


def test_chatbot_small_slice_is_insufficient_not_ok():
    it = by_language(scan(counts(CHATBOT)))["it"]
    # it is tested (and would be significant: z = −4.02) but 300 < 500 sessions
    assert it.verdict == "insufficient data" and it.severity is None
    assert it.p_value is not None and it.p_value < 0.001
    assert "300" in it.reason and "500 needed" in it.reason


def test_chatbot_tiny_significant_drop_is_below_the_floor():
    pt = by_language(scan(counts(CHATBOT)))["pt"]
    # pooled 0.965, SE = √(0.965·0.035·(2/20000)) = 0.001838, z = −0.01/0.001838 = −5.44
    assert pt.adjusted_p_value is not None and pt.adjusted_p_value < 1e-6
    assert pt.drop == pytest.approx(0.01)
    assert pt.verdict == "ok" and "below the 2.0 pp floor" in pt.reason


def test_page_effect_splits_page_from_ticket():
    options = ScanOptions(page_effect=0.08, page_severity="SEV1", ticket_severity="SEV4")
    slices = by_language(scan(counts(CHATBOT), options))
    assert slices["de"].severity == "SEV1"  # 10 pp ≥ 8 pp
    assert slices["es"].severity == "SEV1"  # 8 pp exactly: "at or above"
    assert slices["fr"].severity == "SEV4"  # 6 pp < 8 pp
    assert "SEV4 as the drop is < 8.0 pp" in slices["fr"].reason


def test_exact_floor_is_met_despite_float_rounding():
    # 30.0% → 28.0% is 0.019999999999999962 in floats; it is still a 2 pp drop.
    free = scan([SliceCounts({"plan": "free"}, 3_000, 10_000, 2_800, 10_000)]).slices[0]
    assert free.drop is not None and free.drop < 0.02
    assert free.verdict == "flagged" and free.severity == "SEV3"


BORDERLINE = SliceCounts({"language": "nl"}, 1_600, 2_000, 770, 1_000)  # 80% → 77%, −3 pp


def test_borderline_slice_is_flagged_alone():
    # pooled 2370/3000 = 0.79, SE = √(0.79·0.21·(1/2000 + 1/1000)) = 0.015776,
    # z = −0.03/0.015776 = −1.9017, p = Φ(−1.9017) = 0.0286 < 0.05
    alone = scan([BORDERLINE]).slices[0]
    assert alone.p_value == pytest.approx(0.0286, abs=1e-4)
    assert alone.adjusted_p_value == alone.p_value  # m = 1
    assert alone.verdict == "flagged" and alone.severity == "SEV3"


def test_bh_keeps_the_borderline_slice_from_paging_among_many():
    # 19 more languages with no change at all (p = 0.5 each): m = 20.
    flat = [SliceCounts({"language": f"l{i:02d}"}, 800, 1_000, 800, 1_000) for i in range(19)]
    result = scan([BORDERLINE, *flat])
    nl = result.slices[0]
    assert nl.p_value is not None and nl.p_value < 0.05, "it would pass at raw α = 0.05"
    # BH: 20·0.0286/1 = 0.572, but a later rank gives min(…, 20·0.5/20) = 0.5 > 0.05
    assert nl.adjusted_p_value == pytest.approx(0.5, abs=1e-3)
    assert nl.verdict == "ok" and "not significant" in nl.reason
    assert result.flagged == []


def test_fisher_for_small_slices():
    tiny = SliceCounts({"language": "is"}, 199, 200, 18, 20)  # expected current failures 0.3
    perfect = SliceCounts({"language": "fi"}, 5_000, 5_000, 490, 500)  # expected 0.9
    result = scan([tiny, perfect])
    small, strict = result.slices
    assert small.method == "fisher" and small.z is None
    assert small.p_value == float(fisher_exact([[18, 2], [199, 1]], alternative="less").pvalue)
    assert small.verdict == "insufficient data"
    # 100% → 98%: a Fisher-tested slice with enough sessions can be flagged
    assert (
        strict.method == "fisher"
        and strict.p_value == two_proportion_test(5000, 5000, 490, 500).p_value
    )
    assert strict.verdict == "flagged" and strict.severity == "SEV3"


def test_untested_slices():
    result = scan(
        [
            SliceCounts({"language": "new"}, 0, 0, 550, 600),  # no reference
            SliceCounts({"language": "gone"}, 90, 100, 0, 0),  # no current traffic
            SliceCounts({"language": "en"}, 900, 1_000, 880, 1_000),
        ]
    )
    new, gone, en = result.slices
    for r in (new, gone):
        assert r.verdict == "insufficient data" and r.method is None
        assert r.p_value is None and r.adjusted_p_value is None and r.z is None
        assert r.drop is None
    assert new.reference_rate is None and new.current_interval is not None
    assert "no reference sessions" in new.reason
    assert gone.current_rate is None and gone.current_interval is None
    assert "no current sessions, 500 needed" in gone.reason
    # only en is tested, so BH has m = 1 and en's adjusted p is its own
    assert en.adjusted_p_value == en.p_value
    # mix-adjusted: gone has no current data, so weights are 0 (new) and 1000 (en): 0.88
    assert result.mix_adjusted_current_rate == pytest.approx(0.88)
    assert result.reference_rate == pytest.approx(990 / 1_100)


def test_rising_slice_is_ok():
    result = scan([SliceCounts({"language": "en"}, 800, 1_000, 850, 1_000)])
    assert result.slices[0].verdict == "ok"
    assert result.slices[0].reason.startswith("rate up 5.0 pp")


def test_key_is_sorted_and_stable():
    assert slice_key({"region": "eu", "language": "de"}) == "language=de,region=eu"
    result = scan([SliceCounts({"region": "eu", "language": "de"}, 1, 2, 1, 2)])
    assert result.slices[0].key == "language=de,region=eu"


def test_result_does_not_share_the_callers_dict():
    labels = {"language": "de"}
    result = scan([SliceCounts(labels, 1, 2, 1, 2)])
    labels["language"] = "xx"
    assert result.slices[0].slice == {"language": "de"}


GOOD = (90, 100, 80, 100)


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ([], "slices"),
        ([({"l": "a"}, -1, 100, 80, 100)], "slices[0].reference_successes"),
        ([({"l": "a"}, *GOOD), ({"l": "b"}, 90, 100, 101, 100)], "slices[1].current_successes"),
        ([({"l": "a"}, 90, 100, 80, 100.0)], "slices[0].current_total"),
        ([({"l": "a"}, 90, 100, True, 100)], "slices[0].current_successes"),
        ([({"l": "a"}, *GOOD), ({"l": "a"}, *GOOD)], "slices[1].slice"),
        ([({"l": 1}, *GOOD)], "slices[0].slice"),
        ([({}, *GOOD)], "slices[0].slice"),
    ],
)
def test_validation_names_the_field(rows, field):
    with pytest.raises(InvalidInput) as error:
        scan([SliceCounts(*row) for row in rows])
    assert error.value.fields == [field]


def test_too_many_slices():
    rows = [SliceCounts({"id": str(i)}, 1, 2, 1, 2) for i in range(1_001)]
    with pytest.raises(InvalidInput) as error:
        scan(rows)
    assert error.value.fields == ["slices"]
    assert len(scan(rows[:1_000]).slices) == 1_000


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"q": 0}, "q"),
        ({"q": 1}, "q"),
        ({"min_effect": 1.0}, "min_effect"),
        ({"min_effect": -0.01}, "min_effect"),
        ({"min_n": 0}, "min_n"),
        ({"min_n": 1.5}, "min_n"),
        ({"page_effect": float("nan")}, "page_effect"),
        ({"page_severity": "SEV5"}, "page_severity"),
        ({"ticket_severity": "warning"}, "ticket_severity"),
    ],
)
def test_option_validation_names_the_field(options, field):
    with pytest.raises(InvalidInput) as error:
        scan([SliceCounts({"l": "a"}, *GOOD)], ScanOptions(**options))
    assert error.value.fields == [field]


def test_default_options_are_reported():
    assert scan([SliceCounts({"l": "a"}, *GOOD)]).options == ScanOptions()
