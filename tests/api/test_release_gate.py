"""The release gate through the API: NO-GO on a spent budget, EXTEND with too few samples
(saying how many more), GO for a healthy equal canary, NO-GO when the canary is worse —
every verdict explained and recorded with its inputs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.store.models import ReleaseCheck
from tests.fake_slack import TOKEN, fake_slack
from tests.slack.test_commands import SECRET, SlackClient, text_of

SLO = "recsys-availability"


def healthy_month(client, clock, *, bad_per_day: int = 200) -> None:
    items = [{"at": (clock.now() - timedelta(days=d, minutes=30)).isoformat(),
              "good": 100_000 - bad_per_day, "total": 100_000} for d in range(27)]  # fmt: skip
    assert client.post(f"/api/slos/{SLO}/events", json=items).status_code == 200


def arm(good: int, total: int, **metrics: tuple[int, int]) -> dict[str, Any]:
    return {"good": good, "total": total, "metrics": metrics}


def check(client, canary: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    body = {"service": "recsys", "canary": canary, "baseline": baseline}
    answer = client.post("/api/releases/check", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def guard(verdict: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in verdict["guards"] if g["name"] == name)


def test_a_spent_budget_is_no_go_whatever_the_canary(client, clock):
    healthy_month(client, clock, bad_per_day=600)  # 16,200 bad of 13,500 allowed
    verdict = check(client, arm(199_600, 200_000), arm(199_600, 200_000))
    assert verdict["decision"] == "no-go" and verdict["budget_remaining"] < 0
    assert guard(verdict, "budget")["passed"] is False
    assert verdict["slo"] == SLO and verdict["check_id"] == 1


def test_too_few_samples_extend_and_say_how_many_more(client, clock):
    healthy_month(client, clock)
    verdict = check(client, arm(499, 500), arm(499, 500))
    assert verdict["decision"] == "extend"
    assert verdict["required_samples"] > 500
    assert verdict["more_samples_needed"] == verdict["required_samples"] - 500
    assert any("more" in reason for reason in verdict["reasons"])


def test_a_healthy_canary_equal_to_its_baseline_goes(client, clock):
    healthy_month(client, clock)
    verdict = check(client, arm(199_600, 200_000, click=(9_000, 200_000)),
                    arm(199_600, 200_000, click=(9_000, 200_000)))  # fmt: skip
    assert verdict["decision"] == "go", verdict["reasons"]
    assert verdict["canary_burn_rate"] == 0.4  # 0.2% errors against a 0.5% budget
    assert {t["name"] for t in verdict["tests"]} == {"error_rate", "click"}
    assert all(g["passed"] for g in verdict["guards"])


def test_a_canary_worse_than_its_baseline_is_no_go(client, clock, engine):
    healthy_month(client, clock)
    worse_errors = check(client, arm(199_200, 200_000), arm(199_600, 200_000))
    assert worse_errors["decision"] == "no-go"
    assert guard(worse_errors, "error_rate")["passed"] is False
    assert guard(worse_errors, "canary_burn")["passed"] is True, "0.8× is within the budget"

    fewer_clicks = check(client, arm(199_600, 200_000, click=(8_400, 200_000)),
                         arm(199_600, 200_000, click=(9_000, 200_000)))  # fmt: skip
    assert fewer_clicks["decision"] == "no-go"
    assert guard(fewer_clicks, "metric:click")["passed"] is False
    assert any("click" in reason for reason in fewer_clicks["reasons"])
    with Session(engine) as session:
        recorded = session.exec(select(ReleaseCheck)).all()
    assert [r.decision for r in recorded] == ["no-go", "no-go"]
    assert recorded[1].inputs["canary"]["metrics"]["click"] == [8400, 200000]


def test_a_service_without_an_slo_is_a_clear_404(client):
    answer = client.post("/api/releases/check", json={"service": "search",
                         "canary": arm(1, 1), "baseline": arm(1, 1)})  # fmt: skip
    assert answer.status_code == 404 and "slos.yaml" in answer.json()["detail"]


def test_slack_release_check_shows_the_budget_and_the_last_verdict(engine, database_url, clock):
    with fake_slack() as (url, _workspace):
        settings = Settings(database_url=database_url, slack_api_url=url, slack_bot_token=TOKEN,
                            slack_signing_secret=SECRET, update_cadence="off")  # fmt: skip
        app = create_app(settings, engine=engine, clock=clock, run_worker=False)
        with TestClient(app) as client:
            slack = SlackClient(client)
            healthy_month(client, clock)
            before = text_of(slack.command("release-check recsys"))
            assert "*recsys-availability* error budget: 60% left (healthy)" in before
            assert "No release check recorded for recsys yet" in before
            check(client, arm(499, 500), arm(499, 500))
            after = text_of(slack.command("release-check recsys"))
            usage = text_of(slack.command("release-check"))
    assert "Last gate verdict: *EXTEND*" in after and "1,715 more" in after
    assert "usage: `/incident release-check <service>" in usage
