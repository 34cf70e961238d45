"""A real headless Chromium loads the pages from a running `incidents serve` (demo data, no
API token): the DOM it builds has the titles and the SVG charts with one mark per datum, and
its screenshots are kept (INCIDENTS_SCREENSHOT_DIR, else a temp folder) for CI artifacts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from incidents.demo import seed
from incidents.domain.metrics import METRICS
from incidents.flows.queries import durations_of
from incidents.store import migrate
from incidents.store.db import build_engine
from incidents.store.models import Incident
from tests.conftest import POSTGRES_URL, _truncate
from tests.servers import running_server, server_env

BINARY = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
MISSING = "chromium is not installed (apt-get install chromium)"
# In CI (.ci/run installs the browser) a missing binary is a failure, never a silent skip.
pytestmark = pytest.mark.skipif(BINARY is None and not os.environ.get("CI"), reason=MISSING)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the folder screenshots go to, and say where it is."""
    configured = os.environ.get("INCIDENTS_SCREENSHOT_DIR")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")  # noqa: T201 (the path is the point)
    return folder


@pytest.fixture(scope="module")
def database(
    tmp_path_factory: pytest.TempPathFactory, postgres_engine: Engine | None
) -> Iterator[tuple[str, Engine]]:
    """A migrated database of this module's own (the server and the checks share it)."""
    if postgres_engine is not None:
        assert POSTGRES_URL is not None
        _truncate(postgres_engine)
        yield POSTGRES_URL, postgres_engine
        return
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'incidents.db'}"
    engine = build_engine(url)
    migrate.upgrade(engine)
    yield url, engine
    engine.dispose()


@pytest.fixture(scope="module")
def server(database: tuple[str, Engine], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Seed the demo, then serve it on loopback without a token (pages open)."""
    url, engine = database
    seed(engine, now=datetime.now(UTC))
    with running_server(tmp_path_factory.mktemp("serve"), server_env(url)) as base:
        yield base


def chromium(*args: str, profile: Path) -> str:
    """Run headless Chromium once with a fresh profile; return what it printed."""
    assert BINARY is not None, MISSING
    command = [BINARY, *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dom(url: str, tmp_path: Path) -> str:
    """Return the DOM Chromium built for `url`."""
    return chromium("--dump-dom", url, profile=tmp_path / "profile-dom")


def screenshot(url: str, path: Path, tmp_path: Path, size: str = "1280,900") -> None:
    """Save a PNG of `url` as Chromium renders it."""
    chromium(f"--screenshot={path}", f"--window-size={size}", url, profile=tmp_path / "shot")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


def count(html: str, cls: str) -> int:
    return len(re.findall(rf'class="{cls}[ "]', html))


def chart(html: str, chart_id: str) -> str:
    match = re.search(rf'<svg class="chart" id="{chart_id}".*?</svg>', html, re.DOTALL)
    assert match, f"no chart {chart_id} in the DOM"
    return match.group(0)


def test_the_list_shows_the_three_demo_incidents(server, screenshots, tmp_path):
    page = dom(f"{server}/ui/incidents", tmp_path)
    assert "<title>Incidents · incidents</title>" in page and "<h1>Incidents</h1>" in page
    assert re.findall(r'data-incident="(INC-\d)"', page) == ["INC-3", "INC-2", "INC-1"]
    assert "language=de,es,fr" in page
    screenshot(f"{server}/ui/incidents", screenshots / "incidents.png", tmp_path)
    screenshot(f"{server}/ui/incidents", screenshots / "incidents-phone.png", tmp_path, "390,844")


@pytest.mark.parametrize(
    ("key", "markers", "alerts", "ongoing"),
    [("INC-1", 3, 1, True), ("INC-2", 5, 0, False), ("INC-3", 4, 1, True)],
)
def test_incident_pages_draw_their_timelines(
    server, screenshots, tmp_path, key, markers, alerts, ongoing
):
    page = dom(f"{server}/ui/incidents/{key}", tmp_path)
    assert f"<title>{key}: " in page and f'<span class="key">{key}</span>' in page
    timeline = chart(page, f"timeline-{key[4:]}")
    assert count(timeline, "marker") == markers
    assert count(timeline, "alert-mark") == alerts
    assert (count(timeline, "now") == 1) is ongoing
    assert 'role="img"' in timeline and "<title" in timeline
    screenshot(f"{server}/ui/incidents/{key}", screenshots / f"{key}.png", tmp_path, "1280,1400")


def weeks(engine: Engine, metric: str, now: datetime) -> int:
    """Count the ISO weeks of the last 90 days with a value of `metric` (independently)."""
    found = set()
    with Session(engine) as session:
        for incident in session.exec(select(Incident)).all():
            detected = incident.detected_at.astimezone(UTC)
            if getattr(durations_of(incident), metric) is not None and detected >= now - timedelta(
                days=90
            ):
                found.add((detected - timedelta(days=detected.weekday())).date())
    return len(found)


def test_the_metrics_page_draws_a_trend_per_metric_and_the_histogram(
    server, database, screenshots, tmp_path
):
    page = dom(f"{server}/ui/metrics", tmp_path)
    assert "<title>MTTx metrics · incidents</title>" in page
    now = datetime.now(UTC)
    for metric in METRICS:
        trend = chart(page, f"trend-{metric.short}-0")
        assert count(trend, "point") == weeks(database[1], metric.name, now), metric.short
    histogram = chart(page, "ttm-histogram")
    assert count(histogram, "bar") == 10
    counts = re.findall(r'class="bar-count"[^>]*>(\d+)<', histogram)
    assert sum(map(int, counts)) == 2, "recsys and chatbot are mitigated"
    assert "Definitions" in page
    screenshot(f"{server}/ui/metrics", screenshots / "metrics.png", tmp_path, "1280,1800")
    screenshot(f"{server}/ui/slos", screenshots / "slos.png", tmp_path, "1280,1400")
