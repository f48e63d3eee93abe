"""Account-list diff (integrations/sources/oceanengine/transforms/accounts.py): pure, no I/O."""

from __future__ import annotations

from datetime import datetime

from integrations.sources.oceanengine.transforms.accounts import ChangeKind, key_of, plan

NOW = datetime(2026, 11, 25, 2, 0, 0)
EARLIER = datetime(2026, 11, 20, 2, 0, 0)
BIG = 1790000000000000003  # above 2^53


def listed(atype: str, aid: int, name: str | None, valid: bool = True, enabled=None) -> dict:
    return {
        "account_type": atype,
        "account_id": aid,
        "account_name": name,
        "account_string_id": None,
        "is_valid": valid,
        "is_enabled": enabled,
    }


def stored(atype: str, aid: int, name: str, *, removed: bool = False, valid: bool = True) -> dict:
    return listed(atype, aid, name, valid) | {
        "removed": removed,
        "first_seen_at": EARLIER,
        "last_seen_at": EARLIER,
    }


def by_key(*rows: dict) -> dict:
    return {key_of(r): r for r in rows}


def everything(_: str) -> bool:
    return True


def test_first_run_adds_everything() -> None:
    p = plan(
        {},
        [listed("LOCAL", BIG, "杭州店"), listed("ADVERTISER", 1, "A")],
        covers=everything,
        now=NOW,
    )
    assert [(c.kind, c.account_type, c.account_id) for c in p.changes] == [
        (ChangeKind.ADDED, "ADVERTISER", 1),
        (ChangeKind.ADDED, "LOCAL", BIG),
    ]
    assert all(r["removed"] is False and r["first_seen_at"] == NOW for r in p.rows)
    assert p.seen == [("ADVERTISER", 1), ("LOCAL", BIG)]


def test_unchanged_listing_has_no_changes() -> None:
    db = by_key(stored("LOCAL", BIG, "杭州店"))
    p = plan(db, [listed("LOCAL", BIG, "杭州店")], covers=everything, now=NOW)
    assert p.changes == [] and len(p.rows) == 1


def test_rename_event_carries_old_and_new_and_exact_id() -> None:
    db = by_key(stored("LOCAL", BIG, "杭州店"))
    p = plan(db, [listed("LOCAL", BIG, "杭州旗舰店")], covers=everything, now=NOW)
    (c,) = p.changes
    assert c.kind is ChangeKind.RENAMED and c.kind.event == "adsync.account.renamed"
    assert c.resource() == {
        "prefect.resource.id": f"adsync.account.LOCAL.{BIG}",
        "prefect.resource.name": "杭州旗舰店",
        "adsync.account.type": "LOCAL",
        "adsync.account.id": str(BIG),
    }
    assert c.payload() == {
        "account_type": "LOCAL",
        "account_id": str(BIG),
        "old": {"account_name": "杭州店"},
        "new": {"account_name": "杭州旗舰店"},
    }


def test_missing_name_is_not_a_rename_and_keeps_the_stored_name() -> None:
    db = by_key(stored("LOCAL", BIG, "杭州店"))
    p = plan(db, [listed("LOCAL", BIG, None)], covers=everything, now=NOW)
    assert p.changes == [] and p.rows[0]["account_name"] == "杭州店"


def test_removed_only_when_its_type_was_listed_completely() -> None:
    db = by_key(stored("LOCAL", BIG, "杭州店"), stored("ADVERTISER", 1, "A"))
    p = plan(db, [], covers=lambda t: t == "ADVERTISER", now=NOW)
    (c,) = p.changes
    assert (c.kind, c.account_type, c.account_id, c.name) == (
        ChangeKind.REMOVED,
        "ADVERTISER",
        1,
        "A",
    )
    (row,) = p.rows
    assert row["removed"] is True and row["last_seen_at"] == EARLIER and row["account_name"] == "A"
    assert c.payload()["last_seen_at"] == EARLIER.isoformat()


def test_already_removed_is_not_removed_again_and_reappearing_is_added() -> None:
    db = by_key(stored("ADVERTISER", 1, "A", removed=True))
    assert plan(db, [], covers=everything, now=NOW).changes == []
    p = plan(db, [listed("ADVERTISER", 1, "A")], covers=everything, now=NOW)
    (c,) = p.changes
    assert c.kind is ChangeKind.ADDED and c.payload()["reappeared"] is True
    assert p.rows[0]["removed"] is False


def test_disabled_and_enabled() -> None:
    db = by_key(stored("ADVERTISER", 1, "A"), stored("ADVERTISER", 2, "B", valid=False))
    p = plan(
        db,
        [listed("ADVERTISER", 1, "A", valid=False), listed("ADVERTISER", 2, "B")],
        covers=everything,
        now=NOW,
    )
    assert [(c.kind, c.account_id) for c in p.changes] == [
        (ChangeKind.DISABLED, 1),
        (ChangeKind.ENABLED, 2),
    ]
    assert p.changes[0].old == {"is_valid": True, "is_enabled": None}
    assert p.changes[0].new == {"is_valid": False, "is_enabled": None}
    # is_enabled=False (customer-center lists) disables too
    p2 = plan(db, [listed("ADVERTISER", 1, "A", enabled=False)], covers=lambda t: False, now=NOW)
    assert [c.kind for c in p2.changes] == [ChangeKind.DISABLED]


def test_rename_and_disable_at_once_give_two_events() -> None:
    db = by_key(stored("ADVERTISER", 1, "A"))
    p = plan(db, [listed("ADVERTISER", 1, "A2", valid=False)], covers=everything, now=NOW)
    assert [c.kind for c in p.changes] == [ChangeKind.RENAMED, ChangeKind.DISABLED]


def test_same_id_under_two_types_are_two_accounts() -> None:
    p = plan({}, [listed("AD", 5, "x"), listed("ADVERTISER", 5, "x")], covers=everything, now=NOW)
    assert {c.resource_id for c in p.changes} == {
        "adsync.account.AD.5",
        "adsync.account.ADVERTISER.5",
    }
