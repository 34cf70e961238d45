"""Severity levels SEV1 (worst) to SEV4, and the one parser for how people and tools write them."""

from __future__ import annotations

from enum import StrEnum

from incidents.errors import InvalidInput


class Severity(StrEnum):
    """Incident severity; SEV1 is the most severe."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def rank(self) -> int:
        """Return 1 for SEV1 … 4 for SEV4 (lower is worse)."""
        return int(self.value[-1])


# Words alerting tools use, mapped to our levels (DESIGN §5).
SEVERITY_WORDS: dict[str, Severity] = {
    "critical": Severity.SEV1,
    "high": Severity.SEV2,
    "error": Severity.SEV2,
    "warning": Severity.SEV3,
    "info": Severity.SEV4,
    "low": Severity.SEV4,
}


def parse_severity(text: str) -> Severity:
    """Read 'SEV2', 'sev2', '2', 'p2' or a tool word such as 'critical' as a Severity."""
    cleaned = text.strip().lower()
    if cleaned in SEVERITY_WORDS:
        return SEVERITY_WORDS[cleaned]
    digits = cleaned.removeprefix("sev").removeprefix("p")
    if digits in {"1", "2", "3", "4"}:
        return Severity(f"SEV{digits}")
    raise InvalidInput(
        f"unknown severity {text!r}: use SEV1..SEV4 (or 1-4, critical/high/warning/info)",
        fields=["severity"],
    )
