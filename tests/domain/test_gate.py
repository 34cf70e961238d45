"""Release gate: the power calculation, Holm, and GO / NO-GO / EXTEND on hand-built canaries."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from incidents.domain.gate import (
    DEFAULT_POLICY,
    Arm,
    GatePolicy,
    decide,
    holm,
    sample_size_two_proportions,
)
from incidents.errors import InvalidInput

Z95, Z80 = 1.6448536269514722, 0.8416212335729143  # Φ⁻¹(0.95), Φ⁻¹(0.80)


def power_of(n: int, p0: float, p1: float, z_alpha: float = Z95) -> float:
    """Power of the one-sided pooled z-test at n per arm (normal approximation), independently."""
    mean = (p0 + p1) / 2
    spread = math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))
    return float(
        norm.cdf(
            (abs(p0 - p1) * math.sqrt(n) - z_alpha * math.sqrt(2 * mean * (1 - mean))) / spread
        )
    )


def guards(verdict):
    return {guard.name: guard for guard in verdict.guards}


def healthy(n: int = 50_000, bad: int = 150, **metrics: tuple[int, int]) -> Arm:
    """An arm with bad/n errors (0.3% by default) and the given metrics."""
    return Arm(good=n - bad, total=n, metrics=dict(metrics))


# --- F11: sample size -------------------------------------------------------------------------


def test_sample_size_by_hand_error_rate_0_3_to_0_8_percent():
    # p0 = 0.003, p1 = 0.008 (the default 0.5 pp effect from a 0.3% error rate), p̄ = 0.0055
    #   √(2·0.0055·0.9945)            = √0.0109395 = 0.1045921
    #   √(0.003·0.997 + 0.008·0.992)  = √0.010927  = 0.1045323
    #   1.6448536·0.1045921 + 0.8416212·0.1045323 = 0.1720387 + 0.0879765 = 0.2600152
    #   0.2600152² / 0.005² = 0.0676079 / 0.000025 = 2704.32 → 2705 per arm
    assert sample_size_two_proportions(0.003, 0.008) == 2705
    assert power_of(2705, 0.003, 0.008) >= 0.8 > power_of(2704, 0.003, 0.008)


def test_sample_size_reference_values():
    # reliability-math §2.5 oracles: CTR 5.0% → 4.5% needs 22,377; errors 0.1% → 0.3% needs
    # 6,170 and 0.1% → 0.2% needs 18,519 (one-sided α = 0.05, power 0.8)
    assert sample_size_two_proportions(0.05, 0.045) == 22_377
    assert sample_size_two_proportions(0.001, 0.003) == 6_170
    assert sample_size_two_proportions(0.001, 0.002) == 18_519
    # the formula is symmetric in p0 and p1
    assert sample_size_two_proportions(0.045, 0.05) == 22_377
    # two-sided uses z(0.975) = 1.96: (1.96·0.3008114 + 0.8416·0.3007906)² / 0.005² = 28,407.8
    assert sample_size_two_proportions(0.05, 0.045, one_sided=False) == 28_408
    assert power_of(22_377, 0.05, 0.045) >= 0.8 > power_of(22_376, 0.05, 0.045)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"p0": 0.05, "p1": 0.05}, "p1"),
        ({"p0": -0.1, "p1": 0.05}, "p0"),
        ({"p0": 0.05, "p1": 1.5}, "p1"),
        ({"p0": 0.05, "p1": 0.04, "alpha": 0.0}, "alpha"),
        ({"p0": 0.05, "p1": 0.04, "power": 1.0}, "power"),
    ],
)
def test_sample_size_refuses_nonsense(kwargs, field):
    with pytest.raises(InvalidInput) as error:
        sample_size_two_proportions(**kwargs)
    assert error.value.fields == [field]


# --- Holm -----------------------------------------------------------------------------------


def test_holm_by_hand():
    # sorted: 0.01·4 = 0.04; 0.03·3 = 0.09; 0.04·2 = 0.08 → max(0.09, 0.08) = 0.09; 0.2·1 → 0.2
    adjusted, rejected = holm([0.01, 0.04, 0.03, 0.2], 0.05)
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert rejected == [True, False, False, False]
    assert holm([], 0.05) == ([], [])
    assert holm([0.6, 0.7], 0.05)[0] == [1.0, 1.0]  # capped at 1
    with pytest.raises(InvalidInput):
        holm([1.2])


# --- the three decisions ----------------------------------------------------------------------


@pytest.mark.parametrize("remaining", [0.0, -0.1])
def test_exhausted_budget_is_no_go_even_with_few_samples(remaining):
    verdict = decide(healthy(1_000, 3), healthy(1_000, 3), budget_remaining=remaining)
    assert verdict.decision == "no-go"
    assert len(verdict.reasons) == 1 and "exhausted" in verdict.reasons[0]
    g = guards(verdict)
    assert g["budget"].passed is False and g["budget"].value == remaining
    # the shortage of samples is still reported, it just does not decide
    assert g["samples"].passed is None and verdict.more_samples_needed == 1_705


def test_budget_floor():
    policy = GatePolicy(budget_floor=0.25)
    below = decide(healthy(), healthy(), budget_remaining=0.2, policy=policy)
    assert below.decision == "no-go"
    assert below.reasons == ["only 20.0% of the error budget remains, below the 25% floor"]
    assert decide(healthy(), healthy(), budget_remaining=0.3, policy=policy).decision == "go"


def test_too_few_samples_extends_with_the_right_number():
    # 0.3% errors on 1,000 requests per arm; 2,705 are needed per arm (see the hand
    # computation above), so 1,705 more
    verdict = decide(healthy(1_000, 3), healthy(1_000, 3), budget_remaining=0.6)
    assert verdict.decision == "extend"
    assert (verdict.required_samples, verdict.more_samples_needed) == (2_705, 1_705)
    assert verdict.canary_burn_rate == pytest.approx(0.6)  # 0.3% / 0.5%
    assert verdict.reasons == [
        "error rate: canary 1,000 and baseline 1,000 requests, 2,705 needed per arm to see a "
        "rise of 0.5 pp from 0.30% (one-sided α=0.05, power 0.8): 1,705 more"
    ]
    samples = guards(verdict)["samples"]
    assert (samples.passed, samples.value, samples.limit) == (None, 1_000, 2_705)


def test_short_baseline_extends_too():
    verdict = decide(healthy(10_000, 30), healthy(2_000, 6), budget_remaining=0.6)
    assert verdict.decision == "extend" and verdict.more_samples_needed == 705


def test_healthy_equal_canary_with_enough_samples_is_go():
    verdict = decide(healthy(), healthy(), budget_remaining=0.6)
    assert verdict.decision == "go"
    assert (verdict.required_samples, verdict.more_samples_needed) == (2_705, 0)
    assert verdict.budget_remaining == 0.6
    assert verdict.canary_burn_rate == pytest.approx(0.6)
    assert [g.name for g in verdict.guards] == ["budget", "canary_burn", "error_rate", "samples"]
    assert all(g.passed for g in verdict.guards)
    assert verdict.reasons == [g.detail for g in verdict.guards]
    [test] = verdict.tests
    assert (test["name"], test["z"], test["p"], test["worse"]) == ("error_rate", 0.0, 0.5, False)
    assert test["canary_rate"] == test["baseline_rate"] == 0.003


def test_canary_significantly_worse_on_error_rate_is_no_go():
    # canary 225 errors (0.45%) vs baseline 150 (0.30%) of 50,000 each. Burn 0.45%/0.5% = 0.9,
    # within 1×, so only the test can stop it. Pooled error rate 375/100,000 = 0.00375,
    # SE = √(0.00375·0.99625·(2/50,000)) = 0.00038657, z = 0.0015/0.00038657 = 3.880
    verdict = decide(healthy(bad=225), healthy(bad=150), budget_remaining=0.6)
    assert verdict.decision == "no-go"
    g = guards(verdict)
    assert g["canary_burn"].passed is True and g["canary_burn"].value == pytest.approx(0.9)
    assert g["error_rate"].passed is False
    [test] = verdict.tests
    assert test["z"] == pytest.approx(3.880, abs=1e-3)
    assert test["p"] == pytest.approx(1 - norm.cdf(3.8803), rel=1e-3)
    assert test["worse"] and test["worse_if"] == "higher" and test["method"] == "z"
    assert verdict.reasons == [
        "canary error rate 0.45% vs baseline 0.30%: significantly worse "
        "(z=3.88, one-sided p<0.0001, Holm p<0.0001 ≤ α=0.05)"
    ]


def test_canary_burning_too_fast_is_no_go_even_when_no_worse_than_baseline():
    # both arms at 0.6% errors: burn 0.6%/0.5% = 1.2 > 1
    verdict = decide(healthy(bad=300), healthy(bad=300), budget_remaining=0.6)
    assert verdict.decision == "no-go"
    assert [g.name for g in verdict.guards if g.passed is False] == ["canary_burn"]
    assert verdict.canary_burn_rate == pytest.approx(1.2)
    assert verdict.reasons[0].startswith("canary burn rate 1.20 (300 errors in 50,000 requests")
    # exactly 1× is allowed: 250 errors of 50,000 = 0.5% = the budget
    assert decide(healthy(bad=250), healthy(bad=250), budget_remaining=0.6).decision == "go"


def test_canary_worse_on_a_named_metric_only_is_no_go_naming_it():
    # clicks 1,700 vs 2,000 of 40,000 impressions (4.25% vs 5.00%), errors equal:
    # pooled 3,700/80,000 = 0.04625, SE = √(0.04625·0.95375·(2/40,000)) = 0.0014851,
    # z = −0.0075/0.0014851 = −5.050
    canary = healthy(40_000, 120, click=(1_700, 40_000))
    baseline = healthy(40_000, 120, click=(2_000, 40_000))
    verdict = decide(canary, baseline, budget_remaining=0.6)
    assert verdict.decision == "no-go"
    g = guards(verdict)
    assert g["error_rate"].passed is True
    assert g["metric:click"].passed is False
    assert len(verdict.reasons) == 1 and verdict.reasons[0].startswith(
        "canary click 4.25% vs baseline 5.00%: significantly worse (z=-5.05"
    )
    click = verdict.tests[1]
    assert (click["name"], click["worse_if"], click["worse"]) == ("click", "lower", True)
    assert click["z"] == pytest.approx(-5.050, abs=1e-3)


def test_multiplicity_correction_turns_a_borderline_metric_into_noise():
    # clicks 1,870 vs 2,000 of 40,000: pooled 0.048375, SE = √(0.048375·0.951625·(2/40,000))
    # = 0.0015172, z = −0.00325/0.0015172 = −2.142, one-sided p = Φ(−2.142) = 0.0161 < 0.05.
    canary_click, baseline_click = (1_870, 40_000), (2_000, 40_000)
    alone = decide(
        healthy(40_000, 120, click=canary_click),
        healthy(40_000, 120, click=baseline_click),
        budget_remaining=0.6,
    )
    # with the error rate (p = 0.5) the family has m = 2: Holm p = 2·0.0161 = 0.0322 ≤ 0.05
    click = alone.tests[1]
    assert click["p"] == pytest.approx(0.0161, abs=1e-4)
    assert click["adjusted_p"] == pytest.approx(2 * click["p"])
    assert alone.decision == "no-go" and "click" in alone.reasons[0]
    # two more (unchanged) metrics make m = 4: Holm p = 4·0.0161 = 0.0644 > 0.05 → not worse
    others = {"cart": (800, 40_000), "buy": (400, 40_000)}
    several = decide(
        healthy(40_000, 120, click=canary_click, **others),
        healthy(40_000, 120, click=baseline_click, **others),
        budget_remaining=0.6,
    )
    click = several.tests[1]
    assert click["p"] == pytest.approx(0.0161, abs=1e-4)
    assert click["adjusted_p"] == pytest.approx(4 * click["p"])
    assert not click["worse"] and click["correction"] == "holm"
    assert several.decision == "go"
    # the sample plan splits α too: click needs 34,403 per arm at α = 0.05/4 (22,377 at 0.05)
    assert guards(several)["samples:click"].limit == sample_size_two_proportions(
        0.05, 0.045, alpha=0.05 / 4
    )
    assert several.required_samples == 34_403


def test_significantly_worse_with_few_samples_is_no_go():
    # clicks 10 vs 50 of 1,000: far short of the 22,377+ a 0.5 pp effect needs, but a drop
    # from 5% to 1% is already evidence
    verdict = decide(
        healthy(1_000, 3, click=(10, 1_000)),
        healthy(1_000, 3, click=(50, 1_000)),
        budget_remaining=0.6,
    )
    assert verdict.decision == "no-go"
    g = guards(verdict)
    assert g["metric:click"].passed is False
    assert g["samples:click"].passed is None  # short: "cannot tell yet", not a failure
    assert verdict.more_samples_needed is not None and verdict.more_samples_needed > 0


def test_fisher_at_small_counts_and_no_traffic():
    verdict = decide(healthy(1_000, 3), healthy(1_000, 3), budget_remaining=0.6)
    [test] = verdict.tests
    assert test["method"] == "fisher" and test["z"] is None  # expected errors 3 < 5
    empty = decide(Arm(0, 0), healthy(1_000, 3), budget_remaining=0.6)
    assert empty.decision == "extend"
    assert empty.canary_burn_rate is None and empty.tests == []
    g = guards(empty)
    assert g["canary_burn"].passed is None and g["error_rate"].passed is None
    assert empty.more_samples_needed == 2_705
    no_baseline = decide(healthy(1_000, 3), Arm(0, 0), budget_remaining=0.6)
    assert no_baseline.decision == "extend"
    assert no_baseline.required_samples is None and no_baseline.more_samples_needed is None


def test_unknown_budget_does_not_block_but_is_said():
    verdict = decide(healthy(), healthy(), budget_remaining=None)
    assert verdict.decision == "go"
    assert guards(verdict)["budget"].passed is None
    assert "budget is unchecked" in verdict.reasons[0]


def test_metric_that_cannot_get_worse_needs_no_samples():
    # a 0% success rate cannot drop; the canary is tested but not planned for
    verdict = decide(healthy(click=(0, 50_000)), healthy(click=(0, 50_000)), budget_remaining=0.6)
    assert verdict.decision == "go"
    assert guards(verdict)["samples:click"].limit is None


def test_inputs_are_checked():
    with pytest.raises(InvalidInput) as error:
        decide(healthy(click=(1, 2)), healthy(), budget_remaining=0.5)
    assert error.value.fields == ["metrics"]
    with pytest.raises(InvalidInput) as error:
        decide(Arm(5, 4), healthy(), budget_remaining=0.5)
    assert error.value.fields == ["canary.good"]
    with pytest.raises(InvalidInput) as error:
        decide(healthy(click=(3, 2)), healthy(click=(1, 2)), budget_remaining=0.5)
    assert error.value.fields == ["canary.metrics.click.successes"]
    with pytest.raises(InvalidInput) as error:
        decide(healthy(), healthy(), budget_remaining=1.5)
    assert error.value.fields == ["budget_remaining"]
    for policy, name in (
        (GatePolicy(objective=1.0), "objective"),
        (GatePolicy(budget_floor=1.0), "budget_floor"),
        (GatePolicy(max_canary_burn=0), "max_canary_burn"),
        (GatePolicy(alpha=0.0), "alpha"),
        (GatePolicy(min_detectable_effect=0.0), "min_detectable_effect"),
    ):
        with pytest.raises(InvalidInput) as error:
            decide(healthy(), healthy(), budget_remaining=0.5, policy=policy)
        assert error.value.fields == [name]
    assert DEFAULT_POLICY == GatePolicy()
