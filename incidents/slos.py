"""SLO definitions (``runbooks/slos.yaml``), validated with messages that point at the line.

Each SLO names a service or a model, an objective in (0, 1), a rolling window (e.g. 28d) and
where its SLI comes from: ``events`` (good/total counts pushed per minute) or
``incident_minutes`` (minutes without customer impact from incidents of that service or
model at or above ``min_severity``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import yaml

from incidents.catalog import Problem
from incidents.domain.severity import parse_severity
from incidents.domain.timeinput import parse_duration
from incidents.errors import InvalidInput, InvalidTime, NotFound

SLI_KINDS = ("events", "incident_minutes")
FIELDS = frozenset({"name", "service", "model", "description", "objective", "window", "sli",
                    "min_severity", "min_events"})  # fmt: skip
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
MIN_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Slo:
    """One service level objective."""

    name: str
    objective: float
    window: timedelta
    sli: str
    service: str | None = None
    model: str | None = None
    description: str | None = None
    min_severity: str = "SEV2"
    min_events: int = 100


def check(path: Path) -> tuple[list[Slo], list[Problem]]:
    """Read and validate the SLO file; return the valid SLOs and every problem found."""
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [Problem(mark.line + 1 if mark else 1, "slos", f"not valid YAML: {exc}")]
    if root is None:
        return [], []
    entries = _entries(root)
    if entries is None:
        return [], [Problem(root.start_mark.line + 1, "slos", "expected `slos:` with a list")]
    slos: list[Slo] = []
    problems: list[Problem] = []
    for index, node in enumerate(entries):
        found = _slo(node, f"slos[{index}]", problems)
        if found is None:
            continue
        if any(s.name == found.name for s in slos):
            problems.append(Problem(node.start_mark.line + 1, found.name, "duplicate name"))
            continue
        slos.append(found)
    return slos, problems


def _entries(root: yaml.Node) -> list[yaml.Node] | None:
    """Return the nodes of the `slos:` list."""
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if key.value == "slos" and isinstance(value, yaml.SequenceNode):
            return list(value.value)
    return None


def _slo(node: yaml.Node, where: str, problems: list[Problem]) -> Slo | None:
    """Validate one SLO entry."""
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem(line, where, "expected a mapping"))
        return None
    lines = {key.value: key.start_mark.line + 1 for key, _ in node.value}
    data = yaml.safe_load(yaml.serialize(node)) or {}
    unknown = [name for name in data if name not in FIELDS]
    for name in unknown:
        problems.append(Problem(lines[name], f"{where}.{name}", "unknown field"))
    try:
        return _build(data)
    except InvalidInput as exc:
        field = exc.fields[0] if exc.fields else ""
        problems.append(Problem(lines.get(field, line), f"{where}.{field}".rstrip("."),
                                exc.message))  # fmt: skip
        return None


def _build(data: dict[str, object]) -> Slo:
    """Turn a parsed entry into an Slo, or raise InvalidInput naming the field."""
    name = str(data.get("name", ""))
    if not NAME.match(name):
        raise InvalidInput("name: lower-case letters, digits and dashes", fields=["name"])
    if not data.get("service") and not data.get("model"):
        raise InvalidInput("name a service or a model", fields=["name"])
    objective = data.get("objective")
    if not isinstance(objective, int | float) or not 0 < float(objective) < 1:
        raise InvalidInput("objective: a ratio between 0 and 1, e.g. 0.995", fields=["objective"])
    window = _window(data.get("window"))
    sli = str(data.get("sli", "events"))
    if sli not in SLI_KINDS:
        raise InvalidInput(f"sli: one of {', '.join(SLI_KINDS)}", fields=["sli"])
    min_events = data.get("min_events", 100)
    if not isinstance(min_events, int) or min_events < 1:
        raise InvalidInput("min_events: a positive whole number", fields=["min_events"])
    return Slo(name=name, objective=float(objective), window=window, sli=sli,
               service=_text(data.get("service")), model=_text(data.get("model")),
               description=_text(data.get("description")),
               min_severity=parse_severity(str(data.get("min_severity", "SEV2"))).value,
               min_events=min_events)  # fmt: skip


def _window(value: object) -> timedelta:
    """Read a rolling window such as 28d."""
    try:
        window = parse_duration(str(value))
    except InvalidTime:
        raise InvalidInput("window: a duration such as 28d or 30d", fields=["window"]) from None
    if window < MIN_WINDOW:
        raise InvalidInput("window: at least one day", fields=["window"])
    return window


def _text(value: object) -> str | None:
    """Return a string field, or None when absent."""
    return None if value is None else str(value)


def load_slos(runbooks_dir: Path) -> list[Slo]:
    """Return the valid SLOs of `runbooks_dir` (none when there is no file), re-read on change."""
    path = runbooks_dir / "slos.yaml"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return []
    return list(_load(str(path), stamp))


@lru_cache(maxsize=4)
def _load(path: str, _stamp: int) -> tuple[Slo, ...]:
    """Read the SLOs once per version of the file."""
    return tuple(check(Path(path))[0])


def find(runbooks_dir: Path, name: str) -> Slo:
    """Return the SLO called `name`, or raise NotFound."""
    for slo in load_slos(runbooks_dir):
        if slo.name == name:
            return slo
    raise NotFound(f"no SLO {name!r} (see runbooks/slos.yaml)")
