"""Words the report's sections share: dates as the report writes them, lists joined in prose."""

from __future__ import annotations

from datetime import UTC, datetime


def date(iso: object) -> str:
    """An ISO timestamp as ``2026-09-25 10:00 UTC``; 'unknown date' when there is none."""
    if not isinstance(iso, str) or not iso:
        return "unknown date"
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def join(items: list[str] | tuple[str, ...]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def capital(text: str) -> str:
    """The text with its first letter in capitals ('run 2' -> 'Run 2')."""
    return text[:1].upper() + text[1:]
