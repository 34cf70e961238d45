"""The service catalog (``runbooks/catalog.yaml``): owners, Slack channels, PagerDuty service
and impact defaults per service and model — validated with messages that point at the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from incidents.domain.impact import Window, estimate
from incidents.errors import InvalidInput

SECTIONS = ("services", "models")
ENTRY_FIELDS = frozenset(
    {"owner", "slack_channel", "stakeholder_channel", "pagerduty_service",
     "pagerduty_routing_key", "impact", "description", "slice_weights"}
)  # fmt: skip
IMPACT_META = frozenset({"model", "currency"})
_PROBE = datetime(2026, 1, 1, tzinfo=UTC)
_WINDOW = Window(_PROBE, _PROBE, _PROBE, _PROBE, impact_start_known=True)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in the catalog, with the line it is on."""

    line: int
    where: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Catalog:
    """Services and models by name."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    def stakeholder_channel(self, *, service: str | None, model: str | None) -> str | None:
        """Return the stakeholder channel of the model, else of the service."""
        for section, name in ((self.models, model), (self.services, service)):
            if name and name in section and section[name].get("stakeholder_channel"):
                return str(section[name]["stakeholder_channel"])
        return None

    def paging_route(self, *, service: str | None, model: str | None) -> tuple[str, str] | None:
        """Return (entry name, routing key) of the model, else the service, that has one."""
        for section, name in ((self.models, model), (self.services, service)):
            key = section.get(name or "", {}).get("pagerduty_routing_key")
            if name and key:
                return name, str(key)
        return None

    def routing_key(self, name: str) -> str | None:
        """Return the routing key of a catalog entry (model or service) by name."""
        for section in (self.models, self.services):
            key = section.get(name, {}).get("pagerduty_routing_key")
            if key:
                return str(key)
        return None

    def pagerduty_service(self, name: str) -> str | None:
        """Return the PagerDuty service id of a catalog service or model."""
        for section in (self.services, self.models):
            service_id = section.get(name, {}).get("pagerduty_service")
            if service_id:
                return str(service_id)
        return None

    def slice_weights(self, model: str | None) -> dict[str, dict[str, float]] | None:
        """Return the model's traffic share per slice dimension and value, if known."""
        weights = self.models.get(model or "", {}).get("slice_weights")
        return weights if isinstance(weights, dict) else None

    def impact_defaults(self, *, service: str | None, model: str | None) -> dict[str, Any] | None:
        """Return the impact defaults of the model, else of the service."""
        for section, name in ((self.models, model), (self.services, service)):
            if name and name in section and section[name].get("impact"):
                defaults: dict[str, Any] = section[name]["impact"]
                return defaults
        return None


def load_catalog(runbooks_dir: Path) -> Catalog:
    """Return the catalog in `runbooks_dir` (empty when there is none), re-read when it changes.

    Entries with problems are still used as far as they go: `incidents catalog check` is
    where the problems are reported, and a form prefilled from a half-right entry is still
    validated when it is submitted.
    """
    path = runbooks_dir / "catalog.yaml"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return Catalog()
    return _load(str(path), stamp)


@lru_cache(maxsize=4)
def _load(path: str, _stamp: int) -> Catalog:
    """Read the catalog once per version of the file."""
    return check(Path(path))[0]


def check(path: Path) -> tuple[Catalog, list[Problem]]:
    """Read and validate the catalog; return it with every problem found."""
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return Catalog(), [
            Problem(line, "catalog", f"not valid YAML: {getattr(exc, 'problem', exc)}")
        ]
    if root is None:
        return Catalog(), []
    if not isinstance(root, yaml.MappingNode):
        return Catalog(), [Problem(root.start_mark.line + 1, "catalog", "expected a mapping")]
    problems: list[Problem] = []
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for key_node, value_node in root.value:
        name = key_node.value
        if name not in SECTIONS:
            problems.append(_at(key_node, name, f"unknown section (use {', '.join(SECTIONS)})"))
            continue
        sections[name] = _entries(name, value_node, problems)
    return Catalog(services=sections["services"], models=sections["models"]), problems


def _entries(section: str, node: yaml.Node, problems: list[Problem]) -> dict[str, Any]:
    """Read one section's entries, validating each."""
    if not isinstance(node, yaml.MappingNode):
        problems.append(_at(node, section, "expected a mapping of names to entries"))
        return {}
    entries: dict[str, Any] = {}
    for key_node, value_node in node.value:
        where = f"{section}.{key_node.value}"
        if not isinstance(value_node, yaml.MappingNode):
            problems.append(_at(value_node, where, "expected a mapping"))
            continue
        entry = yaml.safe_load(yaml.serialize(value_node)) or {}
        for field_key, field_value in value_node.value:
            if field_key.value not in ENTRY_FIELDS:
                problems.append(_at(field_key, f"{where}.{field_key.value}", "unknown field"))
            elif field_key.value == "impact":
                _check_impact(f"{where}.impact", field_value, problems)
            elif field_key.value == "slice_weights":
                _check_weights(f"{where}.slice_weights", field_value, problems)
        entries[key_node.value] = entry
    return entries


def _check_impact(where: str, node: yaml.Node, problems: list[Problem]) -> None:
    """Validate impact defaults by computing the model once with them."""
    data = yaml.safe_load(yaml.serialize(node))
    if not isinstance(data, dict) or "model" not in data:
        problems.append(_at(node, where, "needs a model (generic, credit or conversion)"))
        return
    inputs = {k: v for k, v in data.items() if k not in IMPACT_META}
    try:
        estimate(str(data["model"]), inputs, _WINDOW)
    except InvalidInput as exc:
        lines = (
            {key.value: key for key, _ in node.value} if isinstance(node, yaml.MappingNode) else {}
        )
        target = next((lines[f] for f in exc.fields if f in lines), node)
        problems.append(_at(target, where, exc.message))
    except (TypeError, ValueError) as exc:
        problems.append(_at(node, where, f"numbers expected: {exc}"))


def _check_weights(where: str, node: yaml.Node, problems: list[Problem]) -> None:
    """Validate slice weights: dimension → value → share of traffic in [0, 1]."""
    if not isinstance(node, yaml.MappingNode):
        problems.append(_at(node, where, "expected dimension: {value: share, ...}"))
        return
    for dimension, values in node.value:
        if not isinstance(values, yaml.MappingNode):
            problems.append(_at(values, f"{where}.{dimension.value}", "expected value: share"))
            continue
        for value, share in values.value:
            try:
                number = float(share.value)
            except (TypeError, ValueError):
                number = -1.0
            if not 0 <= number <= 1:
                problems.append(_at(share, f"{where}.{dimension.value}.{value.value}",
                                    "a share of traffic between 0 and 1"))  # fmt: skip


def _at(node: yaml.Node, where: str, message: str) -> Problem:
    """Return a problem located at a YAML node."""
    return Problem(node.start_mark.line + 1, where, message)
