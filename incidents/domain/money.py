"""Money for people: "€27,000–€54,000", rounded to what the inputs can honestly support."""

from __future__ import annotations

from incidents.domain.impact import Range

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF "}


def format_money(amount: float, currency: str) -> str:
    """Format an amount with its currency and thousands separators, to whole units."""
    symbol = SYMBOLS.get(currency.upper())
    text = f"{round(amount):,}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def format_range(value: Range, currency: str) -> str:
    """Format a money range; an exact range is a single figure."""
    if round(value.low) == round(value.high):
        return format_money(value.low, currency)
    return f"{format_money(value.low, currency)}–{format_money(value.high, currency)}"
