"""The release gate: GO / NO-GO / EXTEND for a canary against its concurrent baseline (F11, F16).

Inputs: the canary's and the baseline's good/total requests, optional named success metrics
(successes, trials) such as clicks per impression, the SLO's remaining budget fraction and a
policy. Guards, in the order they are listed (reliability-math §1.5, §2.5, DESIGN §11):

1. ``budget``: NO-GO when the budget is exhausted (remaining ≤ 0, the Workbook freeze) or below
   ``budget_floor``. Without a budget figure (no events in the SLO period) it is not checked;
2. ``canary_burn``: NO-GO when the canary's burn (bad/total)/(1 − S) exceeds ``max_canary_burn``:
   promoted to all traffic it would spend the budget faster than the period allows;
3. ``error_rate`` and ``metric:<name>``: a one-sided two-proportion test of "canary worse"
   (``stats.two_proportion_test``: pooled z, Fisher's exact at small counts) per decision
   metric, Holm-adjusted across them; NO-GO when an adjusted p ≤ α. For the error rate the
   reported z is positive when the canary errs more; for a success metric negative when it
   succeeds less;
4. ``samples`` and ``samples:<name>``: per decision metric, both arms need the n per arm of
   ``sample_size_two_proportions`` to see the minimum detectable effect (an absolute rise of
   the error rate, an absolute drop of a success rate) from the baseline's rate at level
   α/m (m decision metrics: Bonferroni for the plan, which keeps the power under Holm).
   A short arm leaves the guard undecided (passed None, "cannot tell yet"), never failed.

Decision: NO-GO if any of 1–3 fails, whatever the sample size: an exhausted budget freezes
releases, and a canary that is already significantly worse is evidence, not noise. Otherwise
EXTEND while any arm is short of samples (with how many more), else GO.

Why Holm and not BH: a gate makes one decision, and a single false rejection turns a good
release into NO-GO, so the error to bound is the family-wise one (P(any false alarm) ≤ α),
which Holm controls under any dependence between the metrics (error rate and clicks are
correlated), with more power than Bonferroni. BH bounds the expected share of false
discoveries, the right error for scanning many slices, not for one go/no-go.

Caveat: asking the gate again and again while the canary runs is repeated testing, so the
real chance of a false NO-GO grows with the number of looks; for a risk-averse release that
errs on the safe side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict, TypeGuard

from scipy.stats import norm

from incidents.domain.slo import Counts, burn_rate
from incidents.domain.stats import check_at_most, check_count, two_proportion_test
from incidents.errors import InvalidInput

GO, NO_GO, EXTEND = "go", "no-go", "extend"
ERROR_RATE = "error_rate"
HOLM = "holm"
HIGHER, LOWER = "higher", "lower"
MAX_METRICS = 50
# Float noise can push an exact whole-number sample size just above an integer.
_CEIL_DIGITS = 9


@dataclass(frozen=True, slots=True)
class Arm:
    """One side of the comparison: requests (good/total) and named success metrics."""

    good: int
    total: int
    metrics: dict[str, tuple[int, int]] = field(default_factory=dict)  # name: (successes, trials)


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """The gate's thresholds; defaults follow reliability-math §1.5 and §2.5."""

    objective: float = 0.995  # the service's SLO
    budget_floor: float = 0.0  # NO-GO below this remaining fraction (0: only when exhausted)
    max_canary_burn: float = 1.0  # the canary alone must be sustainable at the SLO
    alpha: float = 0.05  # family-wise level of the canary-worse tests (Holm)
    min_detectable_effect: float = 0.005  # absolute change in a rate the plan must see
    power: float = 0.8


DEFAULT_POLICY = GatePolicy()


@dataclass(frozen=True, slots=True)
class Guard:
    """One check of the gate with its numbers; passed is None when it cannot tell yet."""

    name: str  # budget, canary_burn, error_rate, metric:<name>, samples, samples:<name>
    passed: bool | None  # False decides NO-GO; a samples guard is None while samples are short
    value: float | None
    limit: float | None
    detail: str  # one sentence with the numbers


class MetricTest(TypedDict):
    """One decision metric's one-sided test, before and after the multiplicity correction."""

    name: str  # "error_rate" or the success metric's name
    worse_if: str  # "higher" (error rate) or "lower" (success metrics)
    canary_rate: float
    baseline_rate: float
    canary_n: int
    baseline_n: int
    z: float | None  # None when Fisher's exact test was used
    p: float  # one-sided, H₁: canary worse
    adjusted_p: float  # Holm
    method: str  # "z" or "fisher"
    correction: str  # "holm"
    worse: bool  # adjusted p ≤ α


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's answer with every number it was based on."""

    decision: str  # "go" | "no-go" | "extend"
    reasons: list[str]  # human sentences
    budget_remaining: float | None
    canary_burn_rate: float | None
    required_samples: int | None  # per arm, the largest over the decision metrics
    more_samples_needed: int | None  # largest shortfall of either arm; 0 when enough
    guards: list[Guard]
    tests: list[MetricTest]


@dataclass(frozen=True, slots=True)
class _Metric:
    """A decision metric as the gate sees it: success counts of both arms."""

    name: str  # "error_rate" or the metric's name
    canary: tuple[int, int]  # (successes, trials)
    baseline: tuple[int, int]

    @property
    def is_error_rate(self) -> bool:
        """Tell whether this is the request error rate (worse when higher)."""
        return self.name == ERROR_RATE


def sample_size_two_proportions(
    p0: float,
    p1: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    one_sided: bool = True,
) -> int:
    """Return the n per arm needed to tell rate p1 from p0, rounded up (reliability-math §2.5).

    n = [z₁₋α·√(2·p̄(1−p̄)) + z₁₋β·√(p₀(1−p₀) + p₁(1−p₁))]² / (p₀ − p₁)², p̄ = (p₀+p₁)/2,
    with z₁₋α/₂ in place of z₁₋α when two-sided.
    """
    for value, name in ((p0, "p0"), (p1, "p1")):
        if not _is_number(value) or not 0 <= value <= 1:
            raise InvalidInput(f"{name}: must be a rate in [0, 1]", fields=[name])
    if p0 == p1:
        raise InvalidInput("p1: must differ from p0 (no effect needs no test)", fields=["p1"])
    _check_open_unit(alpha, "alpha")
    _check_open_unit(power, "power")
    z_alpha = float(norm.ppf(1 - alpha if one_sided else 1 - alpha / 2))
    z_beta = float(norm.ppf(power))
    mean = (p0 + p1) / 2
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(
        p0 * (1 - p0) + p1 * (1 - p1)
    )
    return max(1, math.ceil(round(root * root / (p0 - p1) ** 2, _CEIL_DIGITS)))


def holm(p_values: Sequence[float], alpha: float = 0.05) -> tuple[list[float], list[bool]]:
    """Return Holm-adjusted p-values (input order) and which are rejected at family-wise α.

    Sorted ascending, adjusted p₍ᵢ₎ = max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎); rejecting
    adjusted p ≤ α is Holm's step-down procedure.
    """
    _check_open_unit(alpha, "alpha")
    for index, p in enumerate(p_values):
        if not _is_number(p) or not 0 <= p <= 1:
            name = f"p_values[{index}]"
            raise InvalidInput(f"{name}: a p-value must be between 0 and 1", fields=[name])
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * float(p_values[index])))
        adjusted[index] = running
    return adjusted, [p <= alpha for p in adjusted]


def decide(
    canary: Arm,
    baseline: Arm,
    *,
    budget_remaining: float | None,
    policy: GatePolicy = DEFAULT_POLICY,
) -> Verdict:
    """Answer GO, NO-GO or EXTEND for promoting the canary, with the guards behind it."""
    check_policy(policy)
    _check_budget_remaining(budget_remaining)
    metrics = _metrics(canary, baseline)
    burn = _canary_burn(canary, policy.objective)
    tests = _tests(metrics, policy.alpha)
    plans = [_plan(metric, policy, len(metrics)) for metric in metrics]
    guards = [
        _budget_guard(budget_remaining, policy.budget_floor),
        _burn_guard(burn, canary, policy),
        *(_test_guard(metric, tests.get(metric.name), policy.alpha) for metric in metrics),
        *(_samples_guard(metric, required, policy, len(metrics)) for metric, required in plans),
    ]
    required = [n for _, n in plans if n is not None]
    shortfalls = [_shortfall(metric, n) for metric, n in plans]
    decision, reasons = _decision(guards)
    return Verdict(
        decision=decision,
        reasons=reasons,
        budget_remaining=budget_remaining,
        canary_burn_rate=burn,
        required_samples=max(required) if required else None,
        more_samples_needed=None if None in shortfalls else max(s or 0 for s in shortfalls),
        guards=guards,
        tests=[tests[metric.name] for metric in metrics if metric.name in tests],
    )


def check_policy(policy: GatePolicy) -> None:
    """Refuse policy values outside their ranges, naming the field."""
    _check_open_unit(policy.objective, "objective")
    if not _is_number(policy.budget_floor) or not 0 <= policy.budget_floor < 1:
        raise InvalidInput("budget_floor: must be a fraction in [0, 1)", fields=["budget_floor"])
    if not _is_number(policy.max_canary_burn) or policy.max_canary_burn <= 0:
        raise InvalidInput("max_canary_burn: must be a number > 0", fields=["max_canary_burn"])
    for name in ("alpha", "min_detectable_effect", "power"):
        _check_open_unit(getattr(policy, name), name)


def _decision(guards: list[Guard]) -> tuple[str, list[str]]:
    """Apply the order: any failed budget/burn/test guard → NO-GO, short samples → EXTEND."""
    failed = [g for g in guards if g.passed is False]
    if failed:
        return NO_GO, [g.detail for g in failed]
    short = [g for g in guards if _is_samples(g) and g.passed is not True]
    if short:
        return EXTEND, [g.detail for g in short]
    return GO, [g.detail for g in guards]


def _metrics(canary: Arm, baseline: Arm) -> list[_Metric]:
    """Validate both arms and list the decision metrics: the error rate, then named metrics."""
    _check_arm(canary, "canary")
    _check_arm(baseline, "baseline")
    if set(canary.metrics) != set(baseline.metrics):
        missing = sorted(set(canary.metrics) ^ set(baseline.metrics))
        raise InvalidInput(
            f"metrics: both arms must report the same metrics (only one has {', '.join(missing)})",
            fields=["metrics"],
        )
    return [
        _Metric(ERROR_RATE, (canary.good, canary.total), (baseline.good, baseline.total)),
        *(_Metric(name, canary.metrics[name], baseline.metrics[name]) for name in canary.metrics),
    ]


def _tests(metrics: list[_Metric], alpha: float) -> dict[str, MetricTest]:
    """Test every metric with data in both arms for "canary worse", Holm across them."""
    testable = [m for m in metrics if m.canary[1] > 0 and m.baseline[1] > 0]
    raw = [two_proportion_test(*m.baseline, *m.canary) for m in testable]
    adjusted, rejected = holm([t.p_value for t in raw], alpha)
    tests: dict[str, MetricTest] = {}
    for metric, test, adj, worse in zip(testable, raw, adjusted, rejected, strict=True):
        sign = -1 if metric.is_error_rate else 1
        tests[metric.name] = MetricTest(
            name=metric.name,
            worse_if=HIGHER if metric.is_error_rate else LOWER,
            canary_rate=_shown_rate(metric, metric.canary),
            baseline_rate=_shown_rate(metric, metric.baseline),
            canary_n=metric.canary[1],
            baseline_n=metric.baseline[1],
            z=None if test.z is None else sign * test.z + 0.0,  # + 0.0: no "−0"
            p=test.p_value,
            adjusted_p=adj,
            method=test.method,
            correction=HOLM,
            worse=worse,
        )
    return tests


def _plan(metric: _Metric, policy: GatePolicy, m: int) -> tuple[_Metric, int | None]:
    """Return the n per arm needed to see the minimum effect from the baseline's rate.

    None when the baseline has no trials yet (no rate to plan from) or when the metric cannot
    move the harmful way by that much (an error rate of 100%, a success rate of 0%).
    """
    if metric.baseline[1] == 0:
        return metric, None
    p0 = _shown_rate(metric, metric.baseline)
    step = policy.min_detectable_effect
    p1 = min(1.0, p0 + step) if metric.is_error_rate else max(0.0, p0 - step)
    if p1 == p0:
        return metric, None
    n = sample_size_two_proportions(p0, p1, alpha=policy.alpha / m, power=policy.power)
    return metric, n


def _shortfall(metric: _Metric, required: int | None) -> int | None:
    """Return how many more samples the shorter arm needs (None: cannot tell yet)."""
    if metric.baseline[1] == 0:
        return None
    if required is None:
        return 0
    return max(0, required - min(metric.canary[1], metric.baseline[1]))


def _budget_guard(remaining: float | None, floor: float) -> Guard:
    """NO-GO on an exhausted budget or one below the floor."""
    name = "budget"
    if remaining is None:
        detail = "no error-budget figure (no events in the SLO period), so the budget is unchecked"
        return Guard(name, None, None, floor, detail)
    if remaining <= 0:
        detail = (
            f"the error budget is exhausted ({remaining:.1%} remains): releases are frozen "
            "except P0 and security fixes"
        )
        return Guard(name, False, remaining, floor, detail)
    if remaining < floor:
        detail = f"only {remaining:.1%} of the error budget remains, below the {floor:.0%} floor"
        return Guard(name, False, remaining, floor, detail)
    return Guard(name, True, remaining, floor, f"{remaining:.1%} of the error budget remains")


def _burn_guard(burn: float | None, canary: Arm, policy: GatePolicy) -> Guard:
    """NO-GO when the canary alone burns budget faster than the policy allows."""
    name, limit = "canary_burn", policy.max_canary_burn
    if burn is None:
        return Guard(name, None, None, limit, "no canary requests yet, so no canary burn rate")
    errors = (
        f"{canary.total - canary.good} errors in {canary.total:,} requests, "
        f"{(canary.total - canary.good) / canary.total:.2%} against a "
        f"{1 - policy.objective:.2%} budget"
    )
    if burn > limit:
        detail = (
            f"canary burn rate {burn:.2f} ({errors}) exceeds {limit:g}×: promoted, it would "
            "spend the error budget before the period ends"
        )
        return Guard(name, False, burn, limit, detail)
    return Guard(name, True, burn, limit, f"canary burn rate {burn:.2f} ({errors}) ≤ {limit:g}×")


def _test_guard(metric: _Metric, test: MetricTest | None, alpha: float) -> Guard:
    """NO-GO when the canary is significantly worse on this metric after Holm."""
    name = ERROR_RATE if metric.is_error_rate else f"metric:{metric.name}"
    label = "error rate" if metric.is_error_rate else metric.name
    if test is None:
        arm = "canary" if metric.canary[1] == 0 else "baseline"
        return Guard(name, None, None, alpha, f"{label}: no {arm} data yet, so no comparison")
    statistic = "Fisher's exact" if test["z"] is None else f"z={test['z']:.2f}"
    rates = f"canary {label} {test['canary_rate']:.2%} vs baseline {test['baseline_rate']:.2%}"
    numbers = f"{statistic}, one-sided {_p(test['p'])}, Holm {_p(test['adjusted_p'])}"
    if test["worse"]:
        detail = f"{rates}: significantly worse ({numbers} ≤ α={alpha:g})"
    else:
        detail = f"{rates}: not significantly worse ({numbers} > α={alpha:g})"
    return Guard(name, not test["worse"], test["adjusted_p"], alpha, detail)


def _samples_guard(metric: _Metric, required: int | None, policy: GatePolicy, m: int) -> Guard:
    """EXTEND while either arm has fewer samples than planned: passed None, "cannot tell yet"."""
    name = "samples" if metric.is_error_rate else f"samples:{metric.name}"
    label, unit = ("error rate", "requests") if metric.is_error_rate else (metric.name, "trials")
    canary_n, baseline_n = metric.canary[1], metric.baseline[1]
    if baseline_n == 0:
        return Guard(
            name, None, None, None, f"{label}: no baseline {unit} yet to plan the sample size from"
        )
    have = min(canary_n, baseline_n)
    rate = _shown_rate(metric, metric.baseline)
    move = "rise" if metric.is_error_rate else "drop"
    if required is None:
        detail = f"{label}: a {move} from {rate:.2%} is impossible, so no samples are needed"
        return Guard(name, True, have, None, detail)
    counts = f"canary {canary_n:,} and baseline {baseline_n:,} {unit}"
    plan = (
        f"{required:,} needed per arm to see a {move} of {_pp(policy.min_detectable_effect)} "
        f"from {rate:.2%} (one-sided α={_g(policy.alpha)}{'' if m == 1 else f'/{m}'}, "
        f"power {_g(policy.power)})"
    )
    if have < required:
        return Guard(
            name, None, have, required, f"{label}: {counts}, {plan}: {required - have:,} more"
        )
    return Guard(name, True, have, required, f"{label}: {counts}, {plan}")


def _canary_burn(canary: Arm, objective: float) -> float | None:
    """Return the canary's (bad/total)/(1 − S) (exact, as in ``slo``), None without requests."""
    return burn_rate(Counts(canary.good, canary.total), objective)


def _shown_rate(metric: _Metric, counts: tuple[int, int]) -> float:
    """Return the rate people read: errors/requests for the error rate, else successes/trials."""
    successes, trials = counts
    return (trials - successes) / trials if metric.is_error_rate else successes / trials


def _check_arm(arm: Arm, where: str) -> None:
    """Refuse negative or non-integer counts, more successes than trials, odd metric names."""
    check_count(arm.good, f"{where}.good")
    check_count(arm.total, f"{where}.total")
    check_at_most(arm.good, arm.total, f"{where}.good", f"{where}.total")
    if not isinstance(arm.metrics, Mapping) or len(arm.metrics) > MAX_METRICS:
        raise InvalidInput(
            f"{where}.metrics: give at most {MAX_METRICS} named metrics",
            fields=[f"{where}.metrics"],
        )
    for name, pair in arm.metrics.items():
        field_name = f"{where}.metrics.{name}"
        if not isinstance(name, str) or not name.strip() or name == ERROR_RATE:
            raise InvalidInput(
                f"{where}.metrics: names must be non-empty and not {ERROR_RATE!r}",
                fields=[f"{where}.metrics"],
            )
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidInput(f"{field_name}: give (successes, trials)", fields=[field_name])
        check_count(pair[0], f"{field_name}.successes")
        check_count(pair[1], f"{field_name}.trials")
        check_at_most(pair[0], pair[1], f"{field_name}.successes", f"{field_name}.trials")


def _check_budget_remaining(value: object) -> None:
    """Refuse a remaining budget that is not a number ≤ 1 (negative is fine: overspent)."""
    if value is not None and (not _is_number(value) or value > 1):
        raise InvalidInput(
            "budget_remaining: must be a fraction ≤ 1 (negative when overspent) or null",
            fields=["budget_remaining"],
        )


def _check_open_unit(value: object, name: str) -> None:
    """Refuse anything but a number strictly between 0 and 1."""
    if not _is_number(value) or not 0 < value < 1:
        raise InvalidInput(f"{name}: must be between 0 and 1 (exclusive)", fields=[name])


def _is_samples(guard: Guard) -> bool:
    """Tell whether a guard is a sample-size guard."""
    return guard.name == "samples" or guard.name.startswith("samples:")


def _p(p_value: float) -> str:
    """Write a p-value for people: four decimals, or a bound when smaller."""
    return "p<0.0001" if p_value < 0.0001 else f"p={p_value:.4f}"


def _pp(rate: float) -> str:
    """Write an absolute change of a rate in percentage points (0.5 pp)."""
    return f"{rate * 100:g} pp"


def _g(value: float) -> str:
    """Write a policy number compactly (0.05, 0.8)."""
    return f"{value:g}"


def _is_number(value: object) -> TypeGuard[float]:
    """Tell whether a value is a finite real number (and not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
