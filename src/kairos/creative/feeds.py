"""Product feeds: a catalogue in CSV or JSON, checked row by row.

Columns (CSV header, or JSON object keys): `id`, `title`, `price`, `landing_url` are required;
`image_url`, `category`, `available` are optional; any other column is a free attribute of the
product (`eco`, `destination`, …), typed in CSV as booleans (`true`/`false`) and numbers where
it reads as one. A row that fails is reported with its number and why, and the others are
imported: nothing is dropped silently. JSON is a list of objects, or `{"products": [...]}`.
Sources are files or URLs on this machine's loopback only.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from kairos.creative.model import Product
from kairos.creative.values import InvalidValue, price, url

MAX_ROWS = 100_000
MAX_BYTES = 50 * 1024 * 1024
REQUIRED = ("id", "title", "price", "landing_url")
KNOWN = frozenset({*REQUIRED, "image_url", "category", "available"})
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_INTEGER = re.compile(r"-?\d{1,15}")
_DECIMAL = re.compile(r"-?\d{0,15}\.\d{1,15}")
_TRUE = frozenset({"true", "yes", "1", "in stock", "in_stock", "available"})
_FALSE = frozenset({"false", "no", "0", "out of stock", "out_of_stock", "unavailable"})


class FeedError(ValueError):
    """The feed as a whole cannot be read (not a row of it)."""


@dataclass(frozen=True)
class Rejected:
    row: int  # 1 = the first product (after a CSV header)
    product_id: str | None
    reason: str


@dataclass(frozen=True)
class Parsed:
    products: list[Product]
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.products) + len(self.rejected)


def parse(data: bytes, feed_id: str, fmt: str | None = None) -> Parsed:
    """`fmt` is "csv" or "json"; None guesses from the first character."""
    if len(data) > MAX_BYTES:
        raise FeedError(f"the feed is over {MAX_BYTES // (1024 * 1024)} MiB")
    fmt = fmt or ("json" if data.lstrip()[:1] in (b"[", b"{") else "csv")
    rows = _json_rows(data) if fmt == "json" else _csv_rows(data)
    products: list[Product] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for number, raw in enumerate(rows, start=1):
        if number > MAX_ROWS:
            raise FeedError(f"the feed has more than {MAX_ROWS} rows")
        pid = raw.get("id") if isinstance(raw, dict) else None
        pid = str(pid) if pid is not None else None
        try:
            product = _product(raw, feed_id, typed=fmt == "json")
            if product.id in seen:
                raise InvalidValue(f"id {product.id!r} appears more than once")
        except InvalidValue as exc:
            rejected.append(Rejected(number, pid, str(exc)))
            continue
        seen.add(product.id)
        products.append(product)
    return Parsed(products, rejected)


def read_source(source: str, timeout_s: float = 30.0) -> bytes:
    """A feed's bytes from a file path or an http(s) URL on loopback."""
    if source.startswith(("http://", "https://")):
        host = urlsplit(source).hostname or ""
        if not _loopback(host):
            raise FeedError(f"feed URLs must be on this machine (loopback), not {host!r}")
        try:
            response = httpx.get(source, timeout=timeout_s, follow_redirects=False)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise FeedError(f"could not fetch the feed: {exc}") from exc
        return response.content
    path = Path(source)
    if not path.is_file():
        raise FeedError(f"no feed file at {source}")
    return path.read_bytes()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _csv_rows(data: bytes) -> list[dict[str, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(f"a CSV feed is UTF-8: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise FeedError(f"the CSV header lacks {', '.join(missing)}")
    return [
        {k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")}
        for row in reader
    ]


def _json_rows(data: bytes) -> list[Any]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"not JSON: {exc}") from exc
    if isinstance(document, dict):
        document = document.get("products")
    if not isinstance(document, list):
        raise FeedError('a JSON feed is a list of products, or {"products": [...]}')
    return document


def _product(raw: Any, feed_id: str, *, typed: bool) -> Product:
    if not isinstance(raw, dict):
        raise InvalidValue("a product is an object")
    missing = [name for name in REQUIRED if raw.get(name) in (None, "")]
    if missing:
        raise InvalidValue(f"missing {', '.join(missing)}")
    pid = str(raw["id"])
    if not _ID.fullmatch(pid):
        raise InvalidValue(f"id {pid[:70]!r}: 1 to 64 letters, digits, '.', '_' or '-'")
    title = str(raw["title"]).strip()
    if len(title) > 300:
        raise InvalidValue("title: at most 300 characters")
    image = raw.get("image_url")
    category = raw.get("category")
    attributes = {k: v if typed else typed_value(v) for k, v in raw.items() if k not in KNOWN}
    if len(orjson.dumps(attributes)) > 4096:
        raise InvalidValue("attributes: at most 4 KiB")
    return Product(
        id=pid,
        feed_id=feed_id,
        title=title,
        price=price(raw["price"], what="price"),
        landing_url=url(raw["landing_url"], what="landing_url"),
        image_url=url(image, what="image_url") if image not in (None, "") else None,
        category=str(category)[:100] if category not in (None, "") else None,
        available=_available(raw.get("available", True)),
        attributes=attributes,
    )


def _available(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValue(f"available: true or false, not {value!r}")


def typed_value(text: str) -> Any:
    """A CSV cell as the value it reads as: a boolean, an integer, a decimal, or text."""
    value = text.strip()
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if _INTEGER.fullmatch(value):
        return int(value)
    if _DECIMAL.fullmatch(value):
        return float(value)
    return value
