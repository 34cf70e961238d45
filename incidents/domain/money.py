"""Money and counts for people: "€27,000–€54,000", rounded to what the inputs support."""

from __future__ import annotations

from incidents.domain.impact import Range

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF "}
# Unit prices below this show cents ("€1.20"); totals and larger prices are whole units.
CENTS_BELOW = 100


def format_money(amount: float, currency: str, *, cents: bool = False) -> str:
    """Format an amount with its currency and thousands separators (whole units by default)."""
    symbol = SYMBOLS.get(currency.upper())
    text = f"{amount:,.2f}" if cents else f"{round(amount):,}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def format_range(value: Range, currency: str) -> str:
    """Format a money range; an exact range is a single figure."""
    if round(value.low) == round(value.high):
        return format_money(value.low, currency)
    return f"{format_money(value.low, currency)}–{format_money(value.high, currency)}"


def format_price(value: Range, currency: str) -> str:
    """Format a per-unit value, with cents when it is small enough for them to matter."""
    whole = all(float(v).is_integer() for v in (value.low, value.high))
    cents = value.high < CENTS_BELOW and not whole
    low, high = (format_money(v, currency, cents=cents) for v in (value.low, value.high))
    return low if low == high else f"{low}–{high}"


def format_count(value: Range) -> str:
    """Format a count of things (whole numbers, thousands separators) or a count range."""
    low, high = f"{round(value.low):,}", f"{round(value.high):,}"
    return low if low == high else f"{low}–{high}"


def format_number(value: Range) -> str:
    """Format a plain quantity with up to four significant digits."""
    low, high = (_significant(v) for v in (value.low, value.high))
    return low if low == high else f"{low}–{high}"


def format_share(value: Range) -> str:
    """Format a share (0..1) as a percentage: 0.002 → "0.2%"."""
    low, high = (f"{_significant(v * 100)}%" for v in (value.low, value.high))
    return low if low == high else f"{low}–{high}"


def _significant(value: float) -> str:
    """Show a number with thousands separators and at most four significant digits."""
    if value >= 1000:  # noqa: PLR2004 — whole numbers from here on
        return f"{round(value):,}"
    return f"{value:.4g}"
