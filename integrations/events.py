"""Change events beyond Prefect: forward them to a webhook (``ADSYNC_EVENTS_WEBHOOK_URL``).

Flows emit Prefect events for account changes (``adsync.account.*``, flows/accounts.py) and,
later, stock changes; other systems that used to read the old service's message bus get the
same events as one JSON POST per batch::

    {"events": [{"event": "adsync.account.added", "occurred": "2026-11-29T22:00:00+00:00",
                 "resource": {"prefect.resource.id": "adsync.account.LOCAL.123", ...},
                 "payload": {...}}]}

A forwarder never fails the sync that calls it: :meth:`EventForwarder.forward` returns a
:class:`ForwardResult` (the caller records a warning) and never raises. Transient failures
(connection errors, timeouts, 5xx, 429) are retried under a bounded :class:`RetryPolicy`; other
4xx answers are the receiver refusing the batch and are not retried. Once a batch has exhausted
its retries the receiver is taken to be down and the remaining batches of the call are counted
failed without being sent, so a dead receiver costs one batch's retries, not every batch's. The URL may carry a secret
(a token in its path or query), so it is never logged or put in a message: errors name the
failure class and status code only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from integrations.retry import RetryPolicy

if TYPE_CHECKING:
    from integrations.settings import Settings

log = logging.getLogger("adsync.events")

DEFAULT_POLICY = RetryPolicy(max_attempts=4, base_delay_s=0.5, max_delay_s=5.0)
TIMEOUT_S = 5.0
STOCK_CHANGED = "adsync.stock.changed"


@dataclass(frozen=True)
class ChangeEvent:
    """One event as Prefect has it: name, resource labels (strings), JSON payload."""

    event: str
    resource: Mapping[str, str]
    payload: Mapping[str, Any] = field(default_factory=dict)
    occurred: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if not self.event:
            raise ValueError("ChangeEvent.event must be a non-empty name")
        if "prefect.resource.id" not in self.resource:
            raise ValueError(f"ChangeEvent {self.event}: resource needs 'prefect.resource.id'")

    def json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "occurred": self.occurred.isoformat(),
            "resource": dict(self.resource),
            "payload": dict(self.payload),
        }


def stock_event(
    supplier: str, sku: str, old: int | None, new: int | None, **extra: Any
) -> ChangeEvent:
    """A stock change (for the supplier flows): resource ``adsync.stock.<supplier>.<sku>``."""
    return ChangeEvent(
        STOCK_CHANGED,
        {
            "prefect.resource.id": f"adsync.stock.{supplier}.{sku}",
            "adsync.supplier": supplier,
            "adsync.sku": sku,
        },
        {"supplier": supplier, "sku": sku, "old": old, "new": new, **extra},
    )


@dataclass
class ForwardResult:
    sent: int = 0  # events the receiver accepted
    failed: int = 0  # events given up on
    attempts: int = 0  # POSTs made
    error: str | None = None  # the last failure, without the URL

    @property
    def ok(self) -> bool:
        return self.failed == 0


def redacted(url: str) -> str:
    """The URL with everything after the host hidden: ``https://hooks.example/***``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/***"


class _ScrubUrls(logging.Filter):
    """httpx logs each request's full URL at INFO; a webhook URL may be the credential. Rewrites
    such records (on the ``httpx`` logger) before any handler sees them."""

    def __init__(self) -> None:
        super().__init__()
        self._urls: set[str] = set()
        self._lock = threading.Lock()

    def add(self, url: str) -> None:
        with self._lock:
            first = not self._urls
            self._urls.add(url)
        if first:
            logging.getLogger("httpx").addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            urls = list(self._urls)
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        scrubbed = text
        for url in urls:
            scrubbed = scrubbed.replace(url, redacted(url))
        if scrubbed != text:
            record.msg, record.args = scrubbed, ()
        return True


_SCRUBBER = _ScrubUrls()


class _Transient(Exception):
    pass


class EventForwarder:
    def __init__(
        self,
        url: str,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        timeout_s: float = TIMEOUT_S,
        batch_size: int = 100,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        _SCRUBBER.add(url)
        self.policy = policy
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self._sleep = sleep

    def __repr__(self) -> str:  # never the URL: it may hold a secret
        return f"EventForwarder(policy={self.policy!r})"

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> EventForwarder | None:
        """The forwarder ``ADSYNC_EVENTS_WEBHOOK_URL`` asks for, or None when it is not set."""
        url = settings.events_webhook_url
        return None if url is None else cls(url.get_secret_value(), **kw)

    def forward(self, events: Sequence[ChangeEvent]) -> ForwardResult:
        """POST the events in batches; never raises (a failure is in the result)."""
        res = ForwardResult()
        down = False  # a batch exhausted its retries: the receiver is down, stop knocking
        with httpx.Client(timeout=self.timeout_s) as client:
            for i in range(0, len(events), self.batch_size):
                batch = events[i : i + self.batch_size]
                if down:
                    res.failed += len(batch)
                    continue
                try:
                    self._post(client, batch, res)
                    res.sent += len(batch)
                except Exception as e:  # noqa: BLE001 - a forwarder never fails the sync
                    res.failed += len(batch)
                    res.error = str(e) if isinstance(e, _Transient | _Refused) else _what(e)
                    down = not isinstance(e, _Refused)  # a refusal is about that batch only
            if res.failed:
                log.warning("events webhook: %d event(s) not forwarded: %s", res.failed, res.error)
        return res

    def _post(self, client: httpx.Client, batch: Sequence[ChangeEvent], res: ForwardResult) -> None:
        body = {"events": [e.json() for e in batch]}
        for attempt in range(1, self.policy.max_attempts + 1):
            res.attempts += 1
            try:
                r = client.post(self._url, json=body)
            except httpx.HTTPError as e:
                failure: Exception = _Transient(_what(e))
            else:
                if r.is_success:
                    return
                if r.status_code != 429 and r.status_code < 500:
                    raise _Refused(f"receiver refused the batch: HTTP {r.status_code}")
                failure = _Transient(f"HTTP {r.status_code}")
            if attempt == self.policy.max_attempts:
                raise _Transient(f"{failure} after {attempt} attempt(s)")
            self._sleep(self.policy.delay(attempt))


class _Refused(Exception):
    pass


def _what(e: BaseException) -> str:
    """The failure's class only: httpx messages can quote the URL (and its secret)."""
    return type(e).__name__


def forward_events(settings: Settings, events: Sequence[ChangeEvent]) -> ForwardResult | None:
    """Forward ``events`` when a webhook is configured (None when not, or nothing to send)."""
    if not events:
        return None
    fwd = EventForwarder.from_settings(settings)
    return None if fwd is None else fwd.forward(events)
