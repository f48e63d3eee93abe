"""Deterministic data of the supplier simulator: products (brand, category, images), prices per
price type, stock per county and time bucket, and logistics per order. Everything derives from a
hash of ``(seed, kind, key...)``: the same seed gives the same answers. No I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.data import CN_TZ, _h, _rng

# (brand, categories it makes): the 海尔 group's brands and their usual categories.
_BRANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("海尔", ("冰箱", "洗衣机", "空调", "热水器", "电视")),
    ("卡萨帝", ("冰箱", "洗衣机", "空调")),
    ("统帅", ("冰箱", "洗衣机", "电视")),
    ("Leader", ("洗衣机", "热水器")),
)
_SERIES = ("智家", "云溪", "鉴赏家", "博观", "揽光", "纤薄", "净界", "星蕴")
_SPECS = {
    "冰箱": ("470升十字对开门", "310升三门", "520升法式多门"),
    "洗衣机": ("10公斤滚筒", "12公斤洗烘一体", "8公斤波轮"),
    "空调": ("1.5匹变频挂机", "3匹立柜式", "大1匹新一级能效"),
    "热水器": ("60升电热水器", "16升燃气热水器", "空气能200升"),
    "电视": ("65英寸4K", "75英寸MiniLED", "55英寸全面屏"),
}
# Counties with stock (GB/T 2260 codes); 110101 (东城区) is the API's default county.
COUNTIES = ("110101", "310104", "330106", "440305", "510107", "420106")
DEFAULT_COUNTY = "110101"
PRICE_TYPES = ("PT", "ACT")  # 普通价 / 活动价 (assumption, QUIRKS.md)
IMAGE_TYPES = (("image/jpeg", "jpg"), ("image/png", "png"), ("image/webp", "webp"))
_MAGIC = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
}
_CARRIERS = ("日日顺物流", "顺丰速运", "京东物流")
_NODES = ("已接单", "已出库", "运输中", "到达网点", "派送中", "已签收")


@dataclass(frozen=True, slots=True)
class Product:
    code: str
    name: str
    brand: str
    category: str
    model: str
    unit: str
    procurable: bool
    image_paths: tuple[str, ...]  # served by the simulator under /_media/...


@dataclass
class SupplierData:
    seed: int
    n_products: int
    today: date
    products: list[Product] = field(default_factory=list)
    # Bumped by ``change_image``: a new version serves different bytes (and a new ETag).
    image_versions: dict[str, int] = field(default_factory=dict)

    @classmethod
    def generate(cls, seed: int = 42, n_products: int = 40, today: date | None = None):
        data = cls(seed, n_products, today or datetime.now(CN_TZ).date())
        data.products = [_product(seed, i) for i in range(n_products)]
        return data

    def product(self, code: str) -> Product | None:
        for p in self.products:
            if p.code == code:
                return p
        return None

    def procurable(self) -> list[Product]:
        return [p for p in self.products if p.procurable]

    # -- prices ----------------------------------------------------------------------------------
    def price(self, p: Product, price_type: str, day: date) -> dict[str, Decimal]:
        """The five price kinds of ``p`` (yuan, 2 places); ACT prices change daily."""
        r = _rng(self.seed, "price", p.code)
        base = Decimal(r.randint(899, 19999)) + Decimal(r.choice((0, 0, 50, 90))) / 100
        if price_type == "ACT":
            off = _h(self.seed, "act", p.code, day.toordinal()) % 8
            base = (base * (100 - off) / 100).quantize(Decimal("0.01"))
        supply = (base * Decimal("0.82")).quantize(Decimal("0.01"))
        return {
            "supply_price": supply,
            "invoice_price": (supply * Decimal("1.03")).quantize(Decimal("0.01")),
            "stock_rebate": Decimal(r.randint(0, 80)),
            "rebate_money": (supply * Decimal(r.randint(0, 5)) / 100).quantize(Decimal("0.01")),
            "price": base,
        }

    # -- stock -----------------------------------------------------------------------------------
    def stock(self, p: Product, county: str, at: datetime) -> int:
        """Available units of ``p`` in ``county``: changes per 30-minute bucket (China time)."""
        local = at.astimezone(CN_TZ)
        bucket = local.replace(minute=local.minute - local.minute % 30, second=0, microsecond=0)
        base = _h(self.seed, "stock", p.code, county) % 200
        if base < 20:
            return 0  # out of stock in this county
        drift = _h(self.seed, "stock-drift", p.code, county, bucket.isoformat()) % 11
        return int(base + drift - 5)

    # -- logistics -------------------------------------------------------------------------------
    def order_codes(self) -> list[str]:
        return [f"SO{self.seed % 100:02d}{i:08d}" for i in range(1, 21)]

    def logistics(self, order_code: str) -> dict[str, Any] | None:
        if order_code not in self.order_codes():
            return None
        r = _rng(self.seed, "order", order_code)
        n = r.randint(1, len(_NODES))
        start = datetime.combine(self.today - timedelta(days=r.randint(2, 6)), datetime.min.time())
        nodes = [
            {
                "nodeTime": (start + timedelta(hours=7 * k + r.randint(0, 5))).strftime(
                    "%Y-%m-%d %H:%M:%S"
                ),
                "nodeDesc": _NODES[k],
            }
            for k in range(n)
        ]
        return {
            "orderCode": order_code,
            "logisticsCompany": r.choice(_CARRIERS),
            "waybillNo": f"RRS{_h(self.seed, 'waybill', order_code) % 10**12:012d}",
            "status": _NODES[n - 1],
            "productCode": self.products[r.randrange(len(self.products))].code,
            "nodes": nodes,
        }

    # -- images ----------------------------------------------------------------------------------
    def image(self, path: str) -> tuple[bytes, str] | None:
        """(body, content type) of a served image path, or None."""
        code, _, name = path.partition("/")
        p = self.product(code)
        if p is None or path not in p.image_paths:
            return None
        ext = name.rsplit(".", 1)[-1]
        ctype = next(t for t, e in IMAGE_TYPES if e == ext)
        version = self.image_versions.get(path, 0)
        size = 2000 + _h(self.seed, "img-size", path, version) % 6000
        body = bytearray(_MAGIC[ctype])
        block = hashlib.sha256(f"{self.seed}|{path}|{version}".encode()).digest()
        while len(body) < size:
            body += block
            block = hashlib.sha256(block).digest()
        return bytes(body[:size]), ctype

    def change_image(self, path: str) -> None:
        """The supplier replaced this picture: new bytes at the same URL."""
        self.image_versions[path] = self.image_versions.get(path, 0) + 1


def _product(seed: int, i: int) -> Product:
    h = _h(seed, "product", i)
    brand, cats = _BRANDS[h % len(_BRANDS)]
    category = cats[(h >> 8) % len(cats)]
    spec = _SPECS[category][(h >> 16) % len(_SPECS[category])]
    series = _SERIES[(h >> 24) % len(_SERIES)]
    prefix = {"冰箱": "BC", "洗衣机": "XQ", "空调": "KF", "热水器": "RS", "电视": "LU"}[category]
    code = f"{prefix}{_h(seed, 'code', i) % 10**7:07d}"
    model = f"{prefix}{(h >> 32) % 900 + 100}{series[0]}"
    n_images = 1 + (h >> 40) % 3
    paths = tuple(
        f"{code}/{k}.{IMAGE_TYPES[(h >> (44 + k)) % len(IMAGE_TYPES)][1]}" for k in range(n_images)
    )
    return Product(
        code=code,
        name=f"{brand}{series}{spec}{category}",
        brand=brand,
        category=category,
        model=model,
        unit="台",
        procurable=i % 9 != 8,  # a few products the customer may not procure
        image_paths=paths,
    )
