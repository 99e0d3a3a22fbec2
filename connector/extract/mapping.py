"""Mapping files: how a source's columns become the five contact fields.

`load_mapping` reads and checks a ``mappings/*.yaml`` file, `check_columns` checks
it against the columns a source has, and `apply_mapping` (pure, vectorized) turns
a source DataFrame into one with exactly the five API fields and ``__line__``.
"""

from __future__ import annotations

import codecs
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import phonenumbers
import yaml

from ..contact import API_FIELDS, DEFAULT_REQUIRED, LINE_COLUMN
from ..errors import MappingError
from ..normalize import fold_name

#: the mapped frame's column of each row's country as written (a `region: {column: ...}`)
REGION_COLUMN = "__region__"
#: phone fields: of several columns, the first that gives a valid number is used
PHONE_FIELDS: tuple[str, ...] = ("phone_number", "outbound_number")
MAX_MAPPING_BYTES = 64 * 1024

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "mappings"

_TOP_KEYS = {"region", "columns", "required", "source", "suppress"}
#: what a suppression list's columns can name (see `suppress:`)
SUPPRESS_KINDS = ("phone", "email", "key")
_SOURCE_KEYS = {"sheet", "encoding", "delimiter", "records", "header_row"}
_REGION_KEYS = {"column", "default"}
_SPEC_KEYS = {"template", "coalesce", "value"}
_TEMPLATE_FIELD = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class ColumnSpec:
    """How one contact field is built. `kind` is column, template, coalesce or value.

    For coalesce, `parts` holds column names and constants in order: a part is
    ``("column", name)`` or ``("value", text)``. For template, `parts` alternates
    ``("text", literal)`` and ``("column", name)``.
    """

    kind: str
    parts: tuple[tuple[str, str], ...]

    @property
    def columns(self) -> list[str]:
        """The source columns this spec reads."""
        return [name for what, name in self.parts if what == "column"]


@dataclass(frozen=True)
class Mapping:
    """A checked mapping file."""

    path: str
    region: str | None
    columns: dict[str, ColumnSpec]
    required: tuple[str, ...] = DEFAULT_REQUIRED
    source: dict[str, str] = field(default_factory=dict)
    #: a column holding each row's country (`region` is then the default)
    region_column: str | None = None
    #: the columns of a suppression list: phone, email, key -> column names
    suppress: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The file name, as error messages show it."""
        return Path(self.path).name

    def source_columns(self) -> list[str]:
        """Every source column the mapping reads, in mapping order, without repeats
        (the region column last: it is optional, see `check_columns`)."""
        seen: list[str] = []
        for spec in self.columns.values():
            for col in spec.columns:
                if col not in seen:
                    seen.append(col)
        if self.region_column and self.region_column not in seen:
            seen.append(self.region_column)
        return seen

    def matched_to(self, source_columns: Iterable[str]) -> Mapping:
        """The mapping with each column name it reads spelled as the source spells it,
        where the two differ only in case or surrounding spaces (`record id` reads
        `Record ID`) and one source column matches; other names are left as they are
        (`check_columns` then names them)."""
        have = [str(c) for c in source_columns if c != LINE_COLUMN]
        exact = set(have)
        by_fold: dict[str, list[str]] = {}
        for name in have:
            by_fold.setdefault(fold_name(name), []).append(name)

        def spell(name: str) -> str:
            if name in exact:
                return name
            found = by_fold.get(fold_name(name), [])
            return found[0] if len(found) == 1 else name

        columns = {fld: ColumnSpec(spec.kind, tuple(
            (what, spell(name) if what == "column" else name) for what, name in spec.parts))
            for fld, spec in self.columns.items()}
        region_column = spell(self.region_column) if self.region_column else None
        if columns == self.columns and region_column == self.region_column:
            return self
        return Mapping(path=self.path, region=self.region, columns=columns,
                       required=self.required, source=self.source,
                       region_column=region_column, suppress=self.suppress)

    def phone_candidates(self) -> dict[str, list[str]]:
        """Phone fields built from several columns (`coalesce`): field -> a label per
        part, in order (the column name, or the constant). `apply_mapping` gives each
        part its own column, ``FIELD:I``, and normalization takes the first that
        gives a valid number."""
        out: dict[str, list[str]] = {}
        for fld in PHONE_FIELDS:
            spec = self.columns.get(fld)
            if spec is not None and spec.kind == "coalesce" and len(spec.parts) > 1:
                out[fld] = [name if what == "column" else f"the default {name!r}"
                            for what, name in spec.parts]
        return out


def shipped_mappings() -> list[str]:
    """Names of the mappings shipped with campaign-sync (``hubspot``, ...)."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def resolve_mapping_path(name_or_path: str | Path) -> Path:
    """A path to an existing file, or the name of a shipped mapping (``hubspot``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    text = str(name_or_path)
    if "/" not in text and "\\" not in text:
        shipped = SHIPPED_DIR / (text if text.endswith((".yaml", ".yml")) else f"{text}.yaml")
        if shipped.is_file():
            return shipped
    close = difflib.get_close_matches(Path(text).stem, shipped_mappings(), n=1, cutoff=0.6)
    raise MappingError(
        f"mapping {text!r} not found" + (f"; did you mean {close[0]!r}?" if close else ""),
        hint="give the path of a YAML mapping file or one of the shipped names: "
             + ", ".join(shipped_mappings()))


def _err(where: str, key: str, message: str, hint: str | None = None) -> MappingError:
    return MappingError(f"mapping {where}, key {key!r}: {message}", hint=hint)


def _column_name(where: str, key: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _err(where, key, f"expected a column name, got {value!r}",
                   hint="quote column names in YAML, e.g. \"Yes\" or \"123\"")
    text = str(value)
    if not text.strip():
        raise _err(where, key, "the column name is empty")
    return text


def _constant(where: str, key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _err(where, key, f"a constant must be a string or a number, got {value!r}")
    return str(value)


def _parse_spec(where: str, fld: str, raw: Any) -> ColumnSpec:
    key = f"columns.{fld}"
    if not isinstance(raw, dict):
        return ColumnSpec("column", (("column", _column_name(where, key, raw)),))
    unknown = set(raw) - _SPEC_KEYS
    if unknown or len(raw) != 1:
        bad = sorted(map(str, unknown)) or sorted(map(str, raw))
        raise _err(where, key, f"unknown or extra key(s) {', '.join(bad)}",
                   hint="a field is a column name, {template: ...}, {coalesce: [...]} "
                        "or {value: ...}")
    kind, body = next(iter(raw.items()))
    if kind == "value":
        return ColumnSpec("value", (("value", _constant(where, f"{key}.value", body)),))
    if kind == "coalesce":
        if not isinstance(body, list) or not body:
            raise _err(where, f"{key}.coalesce", "expected a non-empty list of column names")
        parts: list[tuple[str, str]] = []
        for item in body:
            if isinstance(item, dict):
                if set(item) != {"value"}:
                    raise _err(where, f"{key}.coalesce",
                               f"an item is a column name or {{value: ...}}, got {item!r}")
                parts.append(("value", _constant(where, f"{key}.coalesce", item["value"])))
            else:
                parts.append(("column", _column_name(where, f"{key}.coalesce", item)))
        return ColumnSpec("coalesce", tuple(parts))
    # template
    if not isinstance(body, str) or "{" not in body:
        raise _err(where, f"{key}.template",
                   "expected a string naming columns in braces, e.g. \"{First Name} {Last Name}\"")
    parts = []
    pos = 0
    for m in _TEMPLATE_FIELD.finditer(body):
        literal = body[pos:m.start()]
        if "{" in literal or "}" in literal:
            raise _err(where, f"{key}.template", f"unbalanced braces in {body!r}")
        if literal:
            parts.append(("text", literal))
        parts.append(("column", _column_name(where, f"{key}.template", m.group(1))))
        pos = m.end()
    tail = body[pos:]
    if "{" in tail or "}" in tail:
        raise _err(where, f"{key}.template", f"unbalanced braces in {body!r}")
    if tail:
        parts.append(("text", tail))
    return ColumnSpec("template", tuple(parts))


class _RepeatedKeyError(Exception):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML keeps the last
    one silently, so a typo'd second `phone_number:` would win unnoticed)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _RepeatedKeyError(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _has_alias(text: str) -> bool:
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            return True
        if getattr(event, "anchor", None):
            return True
    return False


def parse_mapping(text: str, *, path: str = "<mapping>") -> Mapping:
    """Check a mapping document (YAML text) and return it; MappingError if it is bad."""
    where = Path(path).name
    if len(text.encode("utf-8", "replace")) > MAX_MAPPING_BYTES:
        raise MappingError(f"mapping {where}: larger than {MAX_MAPPING_BYTES // 1024} KiB; "
                           "a mapping is a few lines of YAML")
    try:
        if _has_alias(text):
            raise MappingError(f"mapping {where}: YAML anchors and aliases (&, *) are not "
                               "allowed in a mapping", hint="write each value out")
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _RepeatedKeyError as exc:
        raise MappingError(f"mapping {where}: the key {exc.args[0]!r} is given twice "
                           f"(line {exc.args[1]})", hint="keep one of them") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping {where}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise MappingError(f"mapping {where}: expected a YAML mapping with a 'columns' key")
    unknown = sorted(str(k) for k in doc if k not in _TOP_KEYS)
    if unknown:
        raise _err(where, unknown[0], "unknown key",
                   hint="the keys are: " + ", ".join(sorted(_TOP_KEYS)))

    region, region_column = _parse_region(where, doc.get("region"))

    cols = doc.get("columns")
    if not isinstance(cols, dict) or not cols:
        raise _err(where, "columns", "expected a mapping of contact fields to columns")
    specs: dict[str, ColumnSpec] = {}
    for fld, raw in cols.items():
        if fld not in API_FIELDS:
            raise _err(where, f"columns.{fld}", "not a contact field",
                       hint="the fields are: " + ", ".join(API_FIELDS))
        specs[str(fld)] = _parse_spec(where, str(fld), raw)

    if "external_unique_id" not in specs:
        raise _err(where, "columns.external_unique_id",
                   "the sync key must be mapped", hint="map it to the export's record ID column")
    required_raw = doc.get("required", list(DEFAULT_REQUIRED))
    if not isinstance(required_raw, list) or any(not isinstance(x, str) for x in required_raw):
        raise _err(where, "required", "expected a list of contact fields")
    for fld in required_raw:
        if fld not in API_FIELDS:
            raise _err(where, "required", f"{fld!r} is not a contact field",
                       hint="the fields are: " + ", ".join(API_FIELDS))
        if fld not in specs:
            raise _err(where, "required", f"{fld!r} is required but not mapped under columns")

    source_raw = doc.get("source") or {}
    if not isinstance(source_raw, dict):
        raise _err(where, "source", "expected a mapping of sheet, encoding, delimiter")
    source: dict[str, str] = {}
    for key, value in source_raw.items():
        if key not in _SOURCE_KEYS:
            raise _err(where, f"source.{key}", "unknown key",
                       hint="the keys are: " + ", ".join(sorted(_SOURCE_KEYS)))
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise _err(where, f"source.{key}", f"expected a string, got {value!r}")
        source[str(key)] = str(value)
    if "header_row" in source and (not source["header_row"].isdigit()
                                   or int(source["header_row"]) < 1):
        raise _err(where, "source.header_row", "expected the line number of the column "
                   "names (1 for the first line)")
    if "records" in source and not source["records"].strip():
        raise _err(where, "source.records", "expected the key of the array of records",
                   hint="e.g. records: results")
    if "delimiter" in source and len(source["delimiter"]) != 1:
        raise _err(where, "source.delimiter", "expected a single character")
    if source.get("delimiter") in ('"', "\n", "\r"):
        raise _err(where, "source.delimiter",
                   f"{source['delimiter']!r} cannot separate fields (it quotes or ends lines)",
                   hint="use one of , ; | or a tab")
    if "encoding" in source:
        try:
            codec = codecs.lookup(source["encoding"])
        except LookupError as exc:
            raise _err(where, "source.encoding",
                       f"unknown encoding {source['encoding']!r}") from exc
        if not getattr(codec, "_is_text_encoding", True):
            raise _err(where, "source.encoding",
                       f"{source['encoding']!r} is not a text encoding",
                       hint="use a text encoding such as utf-8, utf-16 or cp1252")

    suppress_raw = doc.get("suppress") or {}
    if not isinstance(suppress_raw, dict):
        raise _err(where, "suppress", "expected a mapping of phone, email, key to columns",
                   hint="e.g. suppress: {phone: Phone Number, email: Email}")
    suppress: dict[str, tuple[str, ...]] = {}
    for key, value in suppress_raw.items():
        if key not in SUPPRESS_KINDS:
            raise _err(where, f"suppress.{key}", "unknown key",
                       hint="the keys are: " + ", ".join(SUPPRESS_KINDS))
        names = value if isinstance(value, list) else [value]
        if not names or any(not isinstance(n, str) or not n.strip() for n in names):
            raise _err(where, f"suppress.{key}", "expected a column name or a list of them")
        suppress[str(key)] = tuple(n.strip() for n in names)
    return Mapping(path=str(path), region=region, columns=specs,
                   required=tuple(dict.fromkeys(required_raw)), source=source,
                   region_column=region_column, suppress=suppress)


def _region_code(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise _err(where, key, f"{value!r} is not a country code phonenumbers knows",
                   hint="use a two-letter ISO country code such as US, CA, GB or DE")
    return value.upper()


def _parse_region(where: str, raw: Any) -> tuple[str | None, str | None]:
    """`region: US` or `region: {column: Country, default: US}` -> (default, column)."""
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        return _region_code(where, "region", raw), None
    unknown = sorted(str(k) for k in raw if k not in _REGION_KEYS)
    if unknown:
        raise _err(where, f"region.{unknown[0]}", "unknown key",
                   hint="region is a country code (US) or {column: Country, default: US}")
    if "column" not in raw:
        raise _err(where, "region", "a region given as a mapping needs its column",
                   hint="region: {column: Country, default: US}")
    column = _column_name(where, "region.column", raw["column"])
    default = raw.get("default")
    return (None if default is None else _region_code(where, "region.default", default)), column


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Read and check a mapping file (a path, or a shipped name such as ``hubspot``)."""
    path = resolve_mapping_path(name_or_path)
    try:
        if path.stat().st_size > MAX_MAPPING_BYTES:
            raise MappingError(f"mapping {path.name}: larger than "
                               f"{MAX_MAPPING_BYTES // 1024} KiB; a mapping is a few lines")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"mapping {path}: cannot be read ({exc})") from exc
    return parse_mapping(text, path=str(path))


def check_columns(mapping: Mapping, source_columns: Iterable[str]) -> None:
    """MappingError when the mapping reads a column the source does not have."""
    have = [str(c) for c in source_columns if c != LINE_COLUMN]
    have_set = set(have)
    # (the region column is optional: without it every row reads in the default region)
    for fld, spec in mapping.columns.items():
        for col in spec.columns:
            if col in have_set:
                continue
            close = difflib.get_close_matches(col, have, n=1, cutoff=0.6)
            if not close:
                lowered = {h.lower().strip(): h for h in have}
                if col.lower().strip() in lowered:
                    close = [lowered[col.lower().strip()]]
            guess = f"; did you mean {close[0]!r}?" if close else "."
            raise MappingError(
                f"mapping {mapping.name}, key 'columns.{fld}': column {col!r} is not in the "
                f"source{guess} The source has: {', '.join(repr(h) for h in have) or '(none)'}",
                hint="fix the column name in the mapping or pick another mapping")


def _clean(series: pd.Series) -> pd.Series:
    return series.fillna("").astype(str)


def _blank(series: pd.Series) -> pd.Series:
    return series.str.strip().eq("")


class _Columns:
    """The source's columns as text, each cleaned once however many fields read it."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.done: dict[str, pd.Series] = {}

    def __getitem__(self, name: str) -> pd.Series:
        if name not in self.done:
            self.done[name] = _clean(self.df[name])
        return self.done[name]


def _build(spec: ColumnSpec, df: pd.DataFrame, cols: _Columns | None = None) -> pd.Series:
    n = len(df)
    cols = cols if cols is not None else _Columns(df)
    if spec.kind == "value":
        return pd.Series([spec.parts[0][1]] * n, index=df.index, dtype=str)
    if spec.kind == "column":
        return cols[spec.parts[0][1]]
    if spec.kind == "coalesce":
        out = pd.Series([""] * n, index=df.index, dtype=str)
        todo = pd.Series(True, index=df.index)
        for what, name in spec.parts:
            values = (pd.Series([name] * n, index=df.index, dtype=str) if what == "value"
                      else cols[name])
            take = todo & ~_blank(values)
            out = out.where(~take, values)
            todo &= ~take
        return out
    # template: concatenate, then drop blank parts' leftover spaces
    out = pd.Series([""] * n, index=df.index, dtype=str)
    for what, name in spec.parts:
        out = out + (name if what == "text" else cols[name].str.strip())
    return out.str.replace(r"\s+", " ", regex=True).str.strip()


def apply_mapping(mapping: Mapping, df: pd.DataFrame) -> pd.DataFrame:
    """The five contact fields (str, "" when blank) plus ``__line__``, one row per source row;
    for a phone field of several columns, also each column as ``FIELD:I`` (the field
    itself holds the first non-blank); with a region column, ``__region__``.

    Pure and vectorized; the mapping's columns must be present (see `check_columns`).
    """
    check_columns(mapping, df.columns)
    out = pd.DataFrame(index=df.index)
    cols = _Columns(df)
    for fld in API_FIELDS:
        spec = mapping.columns.get(fld)
        out[fld] = (_build(spec, df, cols) if spec is not None
                    else pd.Series([""] * len(df), index=df.index, dtype=str))
    for fld in mapping.phone_candidates():
        for i, part in enumerate(mapping.columns[fld].parts):
            out[f"{fld}:{i}"] = _build(ColumnSpec(part[0], (part,)), df, cols)
    if mapping.region_column:
        out[REGION_COLUMN] = (cols[mapping.region_column]
                              if mapping.region_column in df.columns
                              else pd.Series([""] * len(df), index=df.index, dtype=str))
    if LINE_COLUMN in df.columns:
        out[LINE_COLUMN] = df[LINE_COLUMN].astype("int64")
    else:
        out[LINE_COLUMN] = pd.RangeIndex(2, len(df) + 2)
    return out


def better_shipped_mapping(mapping: Mapping, source_columns: Iterable[str]) -> str | None:
    """The shipped mapping that reads every column it needs from these columns, when the
    given mapping does not (a HubSpot export read with the salesforce mapping)."""
    have = {fold_name(str(c)) for c in source_columns}
    for name in shipped_mappings():
        other = load_mapping(name)
        if other.path == mapping.path:
            continue
        needed = {fold_name(c) for spec in other.columns.values() for c in spec.columns}
        if needed and needed <= have:
            return name
    return None


def required_fields(mapping: Mapping) -> Sequence[str]:
    """The fields a row must have (the mapping's `required`)."""
    return mapping.required
