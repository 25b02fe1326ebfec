"""GeoIP for the enrichment step: country and region from a MaxMind (GeoLite2/GeoIP2) database."""

from __future__ import annotations

import ipaddress
import logging
from functools import _CacheInfo, lru_cache
from pathlib import Path
from types import TracebackType
from typing import Self

import maxminddb

from kairos.errors import ConfigurationError
from kairos.logs import kv
from kairos.settings import Settings
from kairos.stream.enrich import NO_GEO, Geo, GeoLookup, no_geo

log = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 65_536  # truncated IPs (/24, /48) repeat across many visitors


class MaxMindGeo:
    """A `GeoLookup` over a GeoLite2/GeoIP2 Country or City database (`.mmdb`).

    Answers `NO_GEO` for anything it cannot place: no address, garbage, private or reserved
    ranges, addresses the database does not cover. Never raises on input.
    """

    def __init__(self, path: str | Path, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.path = Path(path)
        self._reader = maxminddb.open_database(self.path)
        self._lookup = lru_cache(maxsize=cache_size)(self._lookup_uncached)
        meta = self._reader.metadata()
        log.info(
            "geoip database opened",
            extra=kv(path=self.path, type=meta.database_type, built=meta.build_epoch),
        )

    def __call__(self, ip: str | None) -> Geo:
        if not ip or not isinstance(ip, str):
            return NO_GEO
        return self._lookup(ip)

    def cache_info(self) -> _CacheInfo:
        return self._lookup.cache_info()

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _lookup_uncached(self, ip: str) -> Geo:
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return NO_GEO
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global:
            return NO_GEO
        try:
            record = self._reader.get(address)
        except ValueError:  # an IPv6 address against an IPv4-only database
            return NO_GEO
        except maxminddb.InvalidDatabaseError as exc:  # geo is optional: never drop the event
            log.warning("geoip lookup failed", extra=kv(path=self.path, ip=ip, reason=exc))
            return NO_GEO
        return _geo_of(record)


def _geo_of(record: object) -> Geo:
    if not isinstance(record, dict):
        return NO_GEO
    country = _iso_code(record.get("country")) or _iso_code(record.get("registered_country"))
    if country is None:
        return NO_GEO
    subdivisions = record.get("subdivisions")
    region = _iso_code(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else None
    return Geo(country, region)


def _iso_code(section: object) -> str | None:
    code = section.get("iso_code") if isinstance(section, dict) else None
    return code if isinstance(code, str) and code else None


def open_geo(settings: Settings) -> GeoLookup:
    """The lookup the settings ask for: `no_geo` unless `KAIROS_GEOIP_DB` names a database."""
    if settings.geoip_db is None:
        return no_geo
    path = settings.geoip_db.expanduser()
    if not path.is_file():
        raise ConfigurationError(f"KAIROS_GEOIP_DB: no database file at {path}")
    try:
        return MaxMindGeo(path)
    except OSError as exc:
        raise ConfigurationError(f"KAIROS_GEOIP_DB: cannot read {path}: {exc.strerror}") from exc
    except (ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigurationError(
            f"KAIROS_GEOIP_DB: {path} is not a MaxMind database (GeoLite2/GeoIP2 .mmdb)"
        ) from exc
