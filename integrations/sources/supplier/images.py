"""Product images: downloaded once per content, stored under UUID names in dated folders.

``ImageStore.sync`` takes each product's image URLs and the mapping stored so far (URL →
:class:`StoredImage`, kept by the database) and returns the new mapping:

- a URL seen before is asked again with ``If-None-Match`` (its ETag): a 304 keeps the stored file
  and no body is transferred. Without an ETag the body is fetched and hashed; an unchanged hash
  keeps the stored file (nothing written);
- new content is checked (HTTP 200, an allowed ``Content-Type`` whose magic bytes match the body,
  at most ``max_bytes``) and written once per SHA-256 as ``<media>/YYYY/MM/DD/<uuid4>.<ext>``
  (China date of the download; tmp file + rename, so a crash never leaves half a file under the
  final name). The same bytes under two URLs share one file;
- a failed image is reported (product code, URL, reason) and the product's other images go on.

Images are fetched without the API token (``Authorization`` is never sent to a CDN).
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from integrations.sources.supplier.client import SupplierClient
from integrations.sources.supplier.errors import Throttled, Transient

logger = logging.getLogger("adsync.supplier")
CN_TZ = ZoneInfo("Asia/Shanghai")
MAX_BYTES = 5 * 1024 * 1024
# Allowed types: extension and the magic bytes the body must start with.
IMAGE_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "image/jpeg": ("jpg", (b"\xff\xd8\xff",)),
    "image/png": ("png", (b"\x89PNG\r\n\x1a\n",)),
    "image/gif": ("gif", (b"GIF87a", b"GIF89a")),
    "image/webp": ("webp", (b"RIFF",)),  # + "WEBP" at offset 8, checked below
}


@dataclass(frozen=True)
class StoredImage:
    url: str
    product_code: str
    sha256: str
    path: str  # relative to the media directory, POSIX separators
    content_type: str
    size: int
    etag: str | None
    fetched_at: datetime


@dataclass(frozen=True)
class ImageFailure:
    product_code: str
    url: str
    reason: str


@dataclass
class ImageSyncResult:
    images: dict[str, StoredImage] = field(default_factory=dict)  # url → stored image
    failures: list[ImageFailure] = field(default_factory=list)
    written: int = 0  # new files
    unchanged: int = 0  # 304, or the same hash as stored
    bodies_fetched: int = 0  # 200 answers read


class _Rejected(Exception):
    pass


def _china_today() -> date:
    return datetime.now(CN_TZ).date()


class ImageStore:
    def __init__(
        self,
        media_dir: Path,
        client: SupplierClient,
        *,
        max_bytes: int = MAX_BYTES,
        today: Callable[[], date] = _china_today,
    ) -> None:
        self.media_dir = Path(media_dir)
        self.client = client
        self.max_bytes = max_bytes
        self._today = today

    def sync(
        self,
        product_images: Mapping[str, Sequence[str]],
        known: Mapping[str, StoredImage] | None = None,
    ) -> ImageSyncResult:
        known = dict(known or {})
        by_hash = {img.sha256: img for img in known.values() if self._exists(img)}
        out = ImageSyncResult()
        for product_code, urls in product_images.items():
            for url in dict.fromkeys(urls):
                try:
                    img = self._one(product_code, url, known.get(url), by_hash, out)
                except (_Rejected, Transient) as e:
                    reason = str(e)
                    out.failures.append(ImageFailure(product_code, url, reason))
                    logger.warning(
                        "supplier image of %s skipped: %s: %s", product_code, url, reason
                    )
                    continue
                out.images[url] = img
                by_hash.setdefault(img.sha256, img)
        return out

    def _exists(self, img: StoredImage) -> bool:
        return (self.media_dir / img.path).is_file()

    def _one(
        self,
        product_code: str,
        url: str,
        prior: StoredImage | None,
        by_hash: dict[str, StoredImage],
        out: ImageSyncResult,
    ) -> StoredImage:
        usable = prior if prior is not None and self._exists(prior) else None
        etag = usable.etag if usable is not None else None
        status, headers, body = self.client.with_retry(lambda: self._get(url, etag))
        if status == 304 and usable is not None:
            out.unchanged += 1
            return usable
        if status != 200:
            raise _Rejected(f"HTTP {status}")
        out.bodies_fetched += 1
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        ext = self._check(ctype, body)
        digest = hashlib.sha256(body).hexdigest()
        new_etag = headers.get("etag")
        if usable is not None and usable.sha256 == digest:
            out.unchanged += 1
            return StoredImage(**{**usable.__dict__, "etag": new_etag or usable.etag})
        same = by_hash.get(digest)
        path = same.path if same is not None else self._write(body, ext)
        if same is None:
            out.written += 1
        return StoredImage(
            url=url,
            product_code=product_code,
            sha256=digest,
            path=path,
            content_type=ctype,
            size=len(body),
            etag=new_etag,
            fetched_at=datetime.now(UTC),
        )

    def _get(self, url: str, etag: str | None) -> tuple[int, httpx.Headers, bytes]:
        headers = {"If-None-Match": etag} if etag else {}
        try:
            with self.client.http.stream("GET", url, headers=headers) as resp:
                status = resp.status_code
                if status == 429:
                    raise Throttled("image: HTTP 429", endpoint=url, code=429)
                if status >= 500:
                    raise Transient(f"image: HTTP {status}", endpoint=url, code=status)
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise _Rejected(f"too large: {declared} bytes > {self.max_bytes}")
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise _Rejected(f"too large: more than {self.max_bytes} bytes")
                return status, resp.headers, bytes(body)
        except httpx.HTTPError as e:
            raise Transient(f"image: request failed ({type(e).__name__})", endpoint=url) from None

    def _check(self, ctype: str, body: bytes) -> str:
        if ctype not in IMAGE_TYPES:
            raise _Rejected(f"content type {ctype or '(none)'!r} is not an allowed image type")
        ext, magics = IMAGE_TYPES[ctype]
        ok = any(body.startswith(m) for m in magics)
        if ctype == "image/webp":
            ok = ok and body[8:12] == b"WEBP"
        if not ok or not body:
            raise _Rejected(f"body is not a {ctype} (magic bytes do not match)")
        return ext

    def _write(self, body: bytes, ext: str) -> str:
        day = self._today()
        rel = Path(f"{day:%Y}", f"{day:%m}", f"{day:%d}", f"{uuid.uuid4()}.{ext}")
        final = self.media_dir / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        return rel.as_posix()
