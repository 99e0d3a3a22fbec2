"""Country names and codes, as exports write them, to the region codes phonenumbers uses.

A mapping's ``region: {column: Country, default: US}`` reads each row's national
number in that row's country. Exports write the country every way people do: ISO
codes (``GB``, ``GBR``), English names (``United Kingdom``), official names (``United
Kingdom of Great Britain and Northern Ireland``), the names of other languages
(``Deutschland``, ``Allemagne``) and colloquial forms (``UK``, ``USA``, ``U.S.``).

The tables are built once, from two well-kept sources rather than by hand:
- pycountry (ISO 3166): alpha-2 and alpha-3 codes, names, official and common names;
- phonenumbers' own region list and its display names in every language it ships
  (the geocoder's locale data), which also knows the common short names
  (``Russia``, ``South Korea``, ``Vietnam``);
plus a few colloquial forms neither has (``UK``, ``Great Britain``, ``England``...).
Only regions phonenumbers supports are kept; a name that two languages give to two
different countries is left out rather than guessed. The other languages' names
are looked at only for a value the English and ISO forms do not know.

Callers look up distinct values only (a column of a million rows holds a few
hundred countries), see `regions_of`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

import phonenumbers

#: forms that neither ISO 3166 nor phonenumbers' names cover, but exports use
COLLOQUIAL: dict[str, str] = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "u k": "GB",
    "us": "US", "u s": "US", "u s a": "US", "america": "US", "united states": "US",
    "united states of america": "US", "the united states": "US",
    "the netherlands": "NL", "holland": "NL", "south korea": "KR", "north korea": "KP",
    "russia": "RU", "czechia": "CZ", "ivory coast": "CI", "turkiye": "TR",
    "uae": "AE", "macedonia": "MK", "vatican": "VA", "burma": "MM",
}

_SEPARATORS = re.compile(r"[\s.,'’()\-_/]+")


def country_key(text: str) -> str:
    """The form names are compared in: case, accents, dots, commas and spacing folded,
    ``&`` read as ``and`` (``U.S.A.`` -> ``u s a``, ``Côte d'Ivoire`` -> ``cote d ivoire``)."""
    text = unicodedata.normalize("NFKD", text.replace("&", " and "))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", text.casefold()).strip()


def locale_data() -> dict[str, dict[str, str]]:
    """phonenumbers' names of the regions, per language."""
    # imported on first use: the module takes half a second to load, and only a
    # source with a country column needs it
    from phonenumbers.geodata.locale import LOCALE_DATA

    return LOCALE_DATA


@functools.lru_cache(maxsize=1)
def country_table() -> dict[str, str]:
    """ISO codes, ISO 3166 names (pycountry), phonenumbers' English names and the
    colloquial forms, for every region phonenumbers supports -> its region code."""
    import pycountry  # here, not at the top: only a source with a country column pays for it

    supported = phonenumbers.SUPPORTED_REGIONS
    table: dict[str, str] = {}
    for region in sorted(supported):
        names = locale_data().get(region, {})
        english = names.get("en", "")
        if english.startswith("*"):
            english = names.get(english[1:], "")
        if english:
            table[country_key(english)] = region
        table[region.lower()] = region
    for country in pycountry.countries:
        region = country.alpha_2
        if region not in supported:
            continue
        for name in (country.alpha_2, country.alpha_3, country.name,
                     getattr(country, "official_name", None),
                     getattr(country, "common_name", None)):
            if name:
                table[country_key(name)] = region
    for name, region in COLLOQUIAL.items():
        table[country_key(name)] = region
    return table


@functools.lru_cache(maxsize=1)
def foreign_table() -> dict[str, str]:
    """The names phonenumbers gives the regions in its other languages (Deutschland,
    Allemagne, ...). Built only when a value is not in `country_table` (most exports
    write English names or codes); a name two regions share is left out."""
    table: dict[str, str] = {}
    ambiguous: set[str] = set()
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for lang, name in locale_data().get(region, {}).items():
            if lang == "en" or not name or name.startswith("*"):
                continue
            key = country_key(name)
            if not key or key in ambiguous:
                continue
            if table.get(key, region) != region:
                ambiguous.add(key)
                del table[key]
                continue
            table[key] = region
    return table


def _lookup(text: str) -> str | None:
    if not text or not text.strip():
        return None
    key = country_key(text)
    found = country_table().get(key)
    return found if found is not None else foreign_table().get(key)


def region_of(text: str) -> str | None:
    """The region code of a country as written, or None when it is not known."""
    return _lookup(text)


def regions_of(values: Sequence[str]) -> list[str | None]:
    """`region_of` for each of `values` (meant for the distinct values of a column)."""
    return [_lookup(v) for v in values]
