"""Retries on the lean path, decided the way the official SDK decides them.

The SDKs send a request again (``max_retries`` times at most) when no answer came — refused,
reset or cut before the response, a TLS or proxy failure, a redirect loop — and when the
answer is 408, 409, 429 or 5xx, unless the server says ``x-should-retry: false`` (or ``true``
for any status). They wait what ``retry-after-ms``/``retry-after`` asks, within a limit, else
an exponential back-off from 0.5 s doubling to 8 s with jitter. The three SDKs differ in the
details (the limit on ``retry-after``, whether a long one means "do not retry"), so the lean
path asks the very SDK client it builds for its headers (``_should_retry`` and
``_calculate_retry_timeout``); a copy of the openai SDK's rules stands in should those
private methods move.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The openai SDK's constants (``openai._constants``), for the stand-in rules.
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER_DELAY = 120.0


@dataclass(frozen=True, slots=True)
class _Answer:
    """What the SDK's ``_should_retry`` reads of a response."""

    status_code: int
    headers: Any


class RetryPolicy:
    """``max_retries`` and the SDK's rules for when and after how long to try again."""

    def __init__(self, max_retries: int, sdk_client: Any = None, options_type: Any = None, headers_type: Any = None) -> None:
        self.max_retries = max_retries
        self._sdk = sdk_client
        self._options = options_type.construct(method="post", url="/") if options_type is not None else None
        self._headers_type = headers_type
        #: Whether the SDK's own methods decide (False: the stand-in rules).
        self.delegated = all(
            (
                sdk_client is not None,
                self._options is not None,
                headers_type is not None,
                callable(getattr(sdk_client, "_should_retry", None)),
                callable(getattr(sdk_client, "_calculate_retry_timeout", None)),
            )
        )

    def should_retry(self, status: int, headers: Mapping[str, str]) -> bool:
        """Whether an answer with ``status`` (an error) is worth another attempt."""
        if self.delegated:
            try:
                return bool(self._sdk._should_retry(_Answer(status, self._headers_type(dict(headers)))))
            except Exception:  # noqa: BLE001 - the private method changed its shape: the stand-in rules
                pass
        return should_retry(status, headers)

    def delay_s(self, retries_taken: int, headers: Mapping[str, str] | None) -> float:
        """How long to wait before attempt ``retries_taken + 1`` (0-based); ``headers`` are the
        failed attempt's answer's, or None when none came."""
        remaining = self.max_retries - retries_taken
        if self.delegated:
            try:
                wrapped = self._headers_type(dict(headers)) if headers is not None else None
                return float(self._sdk._calculate_retry_timeout(remaining, self._options, wrapped))
            except Exception:  # noqa: BLE001 - as above
                pass
        return retry_delay(self.max_retries, remaining, headers)


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds, or an HTTP date) in seconds, as the
    openai SDK reads them; None when absent or unreadable."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        if delay == math.inf and value.strip().lower() not in ("inf", "+inf", "infinity", "+infinity"):
            return MAX_RETRY_AFTER_DELAY + 1  # an overflowing number is an excessive delay
        return delay / divisor
    date = headers.get("retry-after")
    try:
        parsed = email.utils.parsedate_tz(date) if date else None
        if parsed is None:
            return None
        return float(email.utils.mktime_tz(parsed) - time.time())
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """The openai SDK's ``_should_retry``."""
    after = retry_after_s(headers)
    if after is not None and math.isfinite(after) and after > MAX_RETRY_AFTER_DELAY:
        return False
    flag = headers.get("x-should-retry")
    if flag == "true":
        return True
    if flag == "false":
        return False
    return status in (408, 409, 429) or status >= 500


def retry_delay(max_retries: int, remaining: int, headers: Mapping[str, str] | None) -> float:
    """The openai SDK's ``_calculate_retry_timeout``."""
    after = retry_after_s(headers)
    if after is not None and math.isfinite(after) and 0 < after <= MAX_RETRY_AFTER_DELAY:
        return after
    taken = min(max_retries - remaining, 1000)
    sleep = min(INITIAL_RETRY_DELAY * pow(2.0, taken), MAX_RETRY_DELAY)
    return max(0.0, sleep * (1 - 0.25 * random.random()))  # noqa: S311 - jitter, not a secret
