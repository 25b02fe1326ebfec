"""The MaxMind GeoIP lookup against small databases built here in the GeoLite2 layouts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MmdbF64, MMDBWriter
from netaddr import IPSet

from kairos.domain.identity import truncate_ip
from kairos.errors import ConfigurationError
from kairos.settings import Settings
from kairos.stream.enrich import NO_GEO, Geo, no_geo
from kairos.stream.geo import MaxMindGeo, open_geo


def _place(code: str, geoname_id: int, name: str) -> dict[str, Any]:
    return {"geoname_id": geoname_id, "iso_code": code, "names": {"en": name}}


def _city_record(
    country: str, subdivision: str | None, *, registered: str | None = None
) -> dict[str, Any]:
    """A record as GeoLite2-City lays it out (the fields a lookup reads, and some it does not)."""
    record: dict[str, Any] = {
        "continent": {"code": "EU", "geoname_id": 6255148, "names": {"en": "Europe"}},
        "country": _place(country, 1, country),
        "registered_country": _place(registered or country, 2, registered or country),
        "location": {
            "accuracy_radius": 100,
            "latitude": MmdbF64(51.5),
            "longitude": MmdbF64(-0.1),
            "time_zone": "Europe/London",
        },
        "city": {"geoname_id": 3, "names": {"en": "Somewhere"}},
        "postal": {"code": "EC1"},
    }
    if subdivision is not None:
        record["subdivisions"] = [_place(subdivision, 4, subdivision), _place("ZZ", 5, "second")]
    return record


CITY_NETWORKS: dict[str, dict[str, Any]] = {
    "81.2.69.0/24": _city_record("GB", "ENG"),
    "2a02:8108::/32": _city_record("DE", "BE"),
    # registered to a country, located nowhere in particular (as anycast ranges are)
    "2.16.0.0/16": {"registered_country": _place("NL", 6, "Netherlands")},
    # a continent only: nothing to say about the country
    "5.101.0.0/16": {"continent": {"code": "EU", "geoname_id": 6255148}},
    # a private range that a careless database might cover: never looked up
    "10.0.0.0/8": _city_record("US", "CA"),
}


def _write(path: Path, networks: dict[str, dict[str, Any]], *, db_type: str, ipv6: bool) -> Path:
    if ipv6:
        writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=db_type)
    else:
        writer = MMDBWriter(ip_version=4, database_type=db_type)
    writer.languages = ["en"]
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def city_db(tmp_path: Path) -> Path:
    return _write(tmp_path / "city.mmdb", CITY_NETWORKS, db_type="GeoLite2-City", ipv6=True)


@pytest.fixture
def city(city_db: Path) -> Iterator[MaxMindGeo]:
    with MaxMindGeo(city_db) as geo:
        yield geo


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("81.2.69.142", Geo("GB", "ENG")),
        ("81.2.69.0", Geo("GB", "ENG")),
        (truncate_ip("81.2.69.255"), Geo("GB", "ENG")),
        ("2a02:8108:1234:5678::1", Geo("DE", "BE")),
        ("2a02:8108:1234::", Geo("DE", "BE")),
        (truncate_ip("2a02:8108:abcd:ef01:2345:6789:abcd:ef01"), Geo("DE", "BE")),
        ("::ffff:81.2.69.7", Geo("GB", "ENG")),  # IPv4-mapped IPv6
        ("2.16.4.0", Geo("NL", None)),  # falls back to the registered country
    ],
)
def test_city_database_places_addresses_inside_its_networks(
    city: MaxMindGeo, ip: str, expected: Geo
) -> None:
    assert city(ip) == expected


@pytest.mark.parametrize(
    "ip",
    [
        "81.2.70.0",  # just past the IPv4 network
        "8.8.8.0",
        "2a02:8109::",  # just past the IPv6 network
        "2606:4700:4700::",
        "5.101.1.0",  # a record without any country
        "10.1.2.0",  # private, although the database has a record for it
        "192.168.1.0",
        "127.0.0.1",
        "100.64.0.0",  # carrier-grade NAT
        "0.0.0.0",
        "::",
        "::1",
        "fe80::",
        "fd12:3456:789a::",
        "2001:db8::",  # documentation range
    ],
)
def test_addresses_outside_or_private_have_no_geo(city: MaxMindGeo, ip: str) -> None:
    assert city(ip) is NO_GEO


@pytest.mark.parametrize(
    "ip",
    [None, "", " ", "not-an-ip", "999.1.2.3", "81.2.69", "81.2.69.0/24", "81.2.69.0\x00", "::g"],
)
def test_garbage_never_raises(city: MaxMindGeo, ip: str | None) -> None:
    assert city(ip) is NO_GEO


def test_non_strings_never_raise(city: MaxMindGeo) -> None:
    assert city(12345) is NO_GEO  # type: ignore[arg-type]
    assert city(["81.2.69.0"]) is NO_GEO  # type: ignore[arg-type]


def test_country_database_has_no_region(tmp_path: Path) -> None:
    record = {key: value for key, value in _city_record("FR", None).items() if key != "city"}
    path = _write(
        tmp_path / "country.mmdb", {"81.2.69.0/24": record}, db_type="GeoLite2-Country", ipv6=False
    )
    with MaxMindGeo(path) as geo:
        assert geo("81.2.69.0") == Geo("FR", None)
        assert geo("2a02:8108::") is NO_GEO  # IPv6 against an IPv4-only database


def test_lookups_are_cached_per_truncated_address(city_db: Path) -> None:
    with MaxMindGeo(city_db, cache_size=2) as geo:
        assert geo("81.2.69.0") == geo("81.2.69.0") == Geo("GB", "ENG")
        info = geo.cache_info()
        assert (info.hits, info.misses) == (1, 1)
        geo("2a02:8108::")
        geo("8.8.8.0")
        geo("not-an-ip")
        assert geo.cache_info().maxsize == 2
        assert geo.cache_info().currsize == 2


def test_open_geo_without_a_database_is_no_geo(settings: Settings) -> None:
    assert settings.geoip_db is None
    assert open_geo(settings) is no_geo


def test_open_geo_reads_the_configured_database(
    city_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIROS_GEOIP_DB", str(city_db))
    settings = Settings(data_dir=tmp_path)
    assert settings.geoip_db == city_db
    geo = open_geo(settings)
    assert isinstance(geo, MaxMindGeo)
    with geo:
        assert geo("81.2.69.0") == Geo("GB", "ENG")


def test_missing_database_is_a_clear_configuration_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, geoip_db=tmp_path / "absent.mmdb")
    with pytest.raises(ConfigurationError, match=r"KAIROS_GEOIP_DB.*absent\.mmdb"):
        open_geo(settings)


def test_a_directory_is_a_clear_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="KAIROS_GEOIP_DB"):
        open_geo(Settings(data_dir=tmp_path, geoip_db=tmp_path))


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not a MaxMind database\n" * 64, "truncated"],
    ids=["empty", "text", "truncated"],
)
def test_corrupt_database_is_a_clear_configuration_error(
    city_db: Path, tmp_path: Path, content: bytes | str
) -> None:
    corrupt = tmp_path / "corrupt.mmdb"
    if content == "truncated":  # the metadata sits at the end of the file
        content = city_db.read_bytes()[: city_db.stat().st_size // 2]
    corrupt.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigurationError, match=r"KAIROS_GEOIP_DB.*corrupt\.mmdb"):
        open_geo(Settings(data_dir=tmp_path, geoip_db=corrupt))
