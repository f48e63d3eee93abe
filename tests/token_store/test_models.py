from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.token_store.conftest import LeakGuard, make_token_set
from token_store.models import TokenKey, TokenSet, TokenStatus, utcnow


def test_key_string_form_round_trips() -> None:
    key = TokenKey.oceanengine(1700000000000001, "agency:b")
    assert str(key) == "oceanengine:1700000000000001:agency:b"
    assert TokenKey.parse(str(key)) == key
    with pytest.raises(ValueError):
        TokenKey.parse("oceanengine-only")
    with pytest.raises(ValueError):
        TokenKey("oceanengine", "", "p")


def test_token_set_masks_secrets_and_normalises_to_utc(leak_guard: LeakGuard) -> None:
    ts = make_token_set(leak_guard)
    leak_guard.text(ts, repr(ts), ts.model_dump(), ts.model_dump_json())
    cn = timezone(timedelta(hours=8))
    other = TokenSet.model_validate(
        {
            **ts.model_dump(),
            "access_token": "a" * 10,
            "refresh_token": "r" * 10,
            "access_expires_at": datetime(2026, 1, 1, 8, tzinfo=cn),
        }
    )
    leak_guard.secret("a" * 10, "r" * 10)
    assert other.access_expires_at == datetime(2026, 1, 1, 0, tzinfo=UTC)
    assert other.access_expires_at.tzinfo == UTC
    with pytest.raises(ValueError):  # naive datetimes are refused: ambiguous
        TokenSet.model_validate({**ts.model_dump(), "access_expires_at": datetime(2026, 1, 1)})
    assert TokenSet.from_secret_json(ts.to_secret_json()) == ts


def test_status_flags_refresh_expiring_within_7_days() -> None:
    now = utcnow()
    key = TokenKey.oceanengine(1)
    soon = TokenStatus.of(key, now + timedelta(hours=1), now + timedelta(days=6, hours=23), [1])
    later = TokenStatus.of(key, now - timedelta(hours=1), now + timedelta(days=8), [1])
    gone = TokenStatus.of(key, now - timedelta(days=40), now - timedelta(days=1), [])
    assert (soon.refresh_expiring_soon, soon.access_valid) == (True, True)
    assert (later.refresh_expiring_soon, later.access_valid) == (False, False)
    assert (gone.refresh_expiring_soon, gone.refresh_expired) == (False, True)
    assert not {"access_token", "refresh_token"} & set(TokenStatus.model_fields)
