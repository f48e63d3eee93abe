"""Images: stored once per content, not re-fetched when unchanged, checked, named on failure."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from integrations.sources.supplier import endpoints as ep
from integrations.sources.supplier.images import ImageStore

DAY = date(2026, 11, 30)


def _urls(served, make_client) -> dict[str, list[str]]:
    client = make_client()
    products = ep.procurable_products(client, served.codes).items[:6]
    return {p.product_code: p.image_urls for p in products}


def _files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


@pytest.mark.parametrize("etags", [True, False])
def test_stored_once_and_not_refetched(served, make_client, tmp_path, etags) -> None:
    served.sim.knobs.image_etags = etags
    urls = _urls(served, make_client)
    n = sum(len(v) for v in urls.values())
    store = ImageStore(tmp_path, make_client(), today=lambda: DAY)
    first = store.sync(urls)
    assert not first.failures
    assert (first.written, first.bodies_fetched, len(first.images)) == (n, n, n)
    files = _files(tmp_path)
    assert len(files) == n
    for img in first.images.values():
        rel = Path(img.path)
        assert rel.parts[:3] == ("2026", "11", "30")
        assert len(rel.stem) == 36 and rel.suffix[1:] in ("jpg", "png", "webp")  # a UUID name
        assert (tmp_path / rel).stat().st_size == img.size
        assert img.content_type.startswith("image/")
    served.sim.reset_counters()
    second = store.sync(urls, first.images)
    assert second.images == first.images or not etags  # fetched_at kept only on a 304
    assert {u: i.path for u, i in second.images.items()} == {
        u: i.path for u, i in first.images.items()
    }
    assert (second.written, second.unchanged) == (0, n)
    assert _files(tmp_path) == files
    media = served.sim.counters_snapshot()["codes"]["_media"]
    # With ETags the server answers 304 (no body); without, bodies come back but are not stored.
    assert media == ({"304": n} if etags else {"200": n})
    assert second.bodies_fetched == (0 if etags else n)


def test_changed_image_is_downloaded_again(served, make_client, tmp_path) -> None:
    urls = _urls(served, make_client)
    store = ImageStore(tmp_path, make_client(), today=lambda: DAY)
    first = store.sync(urls)
    code, product_urls = next(iter(urls.items()))
    changed = product_urls[0]
    served.sim.data.change_image(changed.split("/_media/", 1)[1])
    second = store.sync(urls, first.images)
    assert second.written == 1
    assert second.images[changed].sha256 != first.images[changed].sha256
    assert second.images[changed].path != first.images[changed].path
    others = {u: i for u, i in second.images.items() if u != changed}
    assert all(others[u].path == first.images[u].path for u in others)


def test_same_bytes_under_two_urls_share_one_file(served, make_client, tmp_path) -> None:
    urls = _urls(served, make_client)
    code, product_urls = next(iter(urls.items()))
    store = ImageStore(tmp_path, make_client(), today=lambda: DAY)
    result = store.sync({code: product_urls[:1], "ALIAS": product_urls[:1]})
    assert result.written == 1 and len(_files(tmp_path)) == 1


def test_bad_images_are_named_and_skipped(served, make_client, tmp_path) -> None:
    urls = _urls(served, make_client)
    code, product_urls = next(iter(urls.items()))
    good = product_urls[0]
    base = good.split("/_media/", 1)[0]
    bad = {
        "NOTFOUND": [f"{base}/_media/{code}/9.jpg"],
        "JSON": [f"{base}/_sandbox/counters"],  # HTTP 200, application/json
    }
    small = ImageStore(tmp_path / "small", make_client(), max_bytes=100, today=lambda: DAY)
    too_big = small.sync({code: [good]})
    assert [f.product_code for f in too_big.failures] == [code]
    assert "too large" in too_big.failures[0].reason
    assert _files(tmp_path / "small") == []
    store = ImageStore(tmp_path / "media", make_client(), today=lambda: DAY)
    result = store.sync({**bad, code: [good]})
    assert sorted(f.product_code for f in result.failures) == ["JSON", "NOTFOUND"]
    reasons = {f.product_code: f.reason for f in result.failures}
    assert reasons["NOTFOUND"] == "HTTP 404"
    assert reasons["JSON"] == "content type 'application/json' is not an allowed image type"
    assert list(result.images) == [good]


def test_type_mismatch_is_refused(tmp_path) -> None:
    from integrations.sources.supplier.images import _Rejected

    store = ImageStore.__new__(ImageStore)
    with pytest.raises(_Rejected, match="magic bytes"):
        store._check("image/png", b"\xff\xd8\xff\xe0 jpeg bytes")
    with pytest.raises(_Rejected, match="not an allowed image type"):
        store._check("text/html", b"<html>")
    assert store._check("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"


def test_image_faults_are_retried(served, make_client, tmp_path) -> None:
    served.sim.knobs.fault_schedule = [("_media", 1, "html_502"), ("_media", 2, "throttle")]
    urls = _urls(served, make_client)
    code, product_urls = next(iter(urls.items()))
    store = ImageStore(tmp_path, make_client(), today=lambda: DAY)
    result = store.sync({code: product_urls[:1]})
    assert not result.failures and result.written == 1
    assert served.sim.counters_snapshot()["requests"]["_media"] == 3


def test_a_deleted_file_is_fetched_again(served, make_client, tmp_path) -> None:
    urls = _urls(served, make_client)
    store = ImageStore(tmp_path, make_client(), today=lambda: DAY)
    first = store.sync(urls)
    victim = next(iter(first.images.values()))
    (tmp_path / victim.path).unlink()
    second = store.sync(urls, first.images)
    assert second.written == 1
    assert (tmp_path / second.images[victim.url].path).is_file()


def test_images_are_fetched_without_the_token(served, make_client, tmp_path) -> None:
    urls = _urls(served, make_client)
    client = make_client()
    sent: list[tuple[str, str | None]] = []
    client.http.event_hooks["request"].append(
        lambda req: sent.append((req.url.path, req.headers.get("authorization")))
    )
    client.token()  # a token exists: it must still not go to the image host
    ImageStore(tmp_path, client, today=lambda: DAY).sync(urls)
    media = [auth for path, auth in sent if path.startswith("/_media/")]
    assert len(media) == sum(len(v) for v in urls.values())
    assert media == [None] * len(media)
