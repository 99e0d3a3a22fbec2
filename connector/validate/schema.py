"""Normalize and validate mapped contacts: a pandera schema and the normalizers it uses.

`normalize_contacts` takes the frame `mapping.apply_mapping` returns and splits it
into valid, normalized contacts and one reject record per problem. Every input row
ends up in exactly one of ``valid`` and ``rejected_lines``.

Speed: phones and emails are normalized once per distinct raw value; the common
shapes (NANP numbers written as ``(201) 471-6992``, ``+1 201...``; plain ASCII
addresses) go through a fast path that gives exactly what ``phonenumbers`` and
``email-validator`` give (the tests compare them), everything else through the
libraries themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..contact import (
    API_FIELDS,
    DEFAULT_REQUIRED,
    LINE_COLUMN,
    NAME_MAX_LENGTH,
    REASON_HINTS,
)
from ..normalize import (
    TEXT,
    as_text,
    collapse_spaces,
    map_unique,
    normalize_emails,
    normalize_phones,
    one_chunk,
)
from .countries import regions_of

REGION_COLUMN = "__region__"  # each row's country as written (mapping.REGION_COLUMN)
KEY_STRIP = " \t\r\n\v\f\xa0\ufeff\u200b\u200c\u200d\u2060\u180e"

#: a key a spreadsheet showed as a number in scientific notation (1.23E+10, 4,5E+11):
#: its digits are lost, so it names no record
EXCEL_NUMBER_KEY = r"[0-9](?:[.,][0-9]+)?[eE]\+?[0-9]{1,3}"

REASONS: tuple[str, ...] = tuple(REASON_HINTS)

_MISSING = {"external_unique_id": "missing_key", "name": "missing_name",
            "email": "missing_email", "phone_number": "missing_phone",
            "outbound_number": "missing_outbound_number"}


# ------------------------------------------------------------------ frames


@dataclass
class ValidationResult:
    """What `normalize_contacts` found.

    valid: the five normalized fields + ``__line__``, one row per accepted contact.
    rejects: one row per problem: line, key (trimmed, "" when missing), field, value
        (as in the source), reason, hint.
    rejected_lines: the source lines of the rejected rows (each once).
    notes: changes worth telling: line, field, value, note (e.g. extension dropped).
    reason_counts: problems per reason code.
    """

    valid: pd.DataFrame
    rejects: pd.DataFrame
    rejected_lines: list[int]
    notes: pd.DataFrame
    reason_counts: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    #: the rejected rows as far as they could be read (line, key, phone in E.164, email
    #: normalized; "" where missing or invalid): what a rejected row still says about
    #: the person, so the plan can protect the campaign contact it describes
    rejected_rows: pd.DataFrame | None = None

    @property
    def valid_count(self) -> int:
        return len(self.valid)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected_lines)

    @property
    def rejected_rows_by_reason(self) -> dict[str, int]:
        """Rows (not problems) per reason; a row with two reasons counts under each."""
        if self.rejects.empty:
            return {}
        counts = self.rejects.drop_duplicates(["line", "reason"])["reason"].value_counts()
        return {str(k): int(v) for k, v in counts.items()}


def _note_frame(lines: pd.Series, fld: str, values: pd.Series, notes: pd.Series
                ) -> pd.DataFrame:
    """Notes on single rows: line, field, the value as written, what was done."""
    return pd.DataFrame({"line": lines.to_numpy(), "field": fld, "value": values.to_numpy(),
                         "note": notes.to_numpy()})


_NOTE_KINDS = ((re.compile(r"; used (.+?)(?:;|$)"), "used {0} (an earlier phone column was "
                "invalid)"),
               (re.compile(r"^extension "), "extension dropped"),
               (re.compile(r"^(.+?) '.*' unknown; read as (.+)$"), "{0} unknown: read as {1}"))


def note_kind(note: str) -> str:
    """What a row note is about, as the validate summary counts notes: the note without
    the row's own values (``extension 12 dropped`` -> ``extension dropped``)."""
    for pattern, kind in _NOTE_KINDS:
        m = pattern.search(note)
        if m:
            return kind.format(*m.groups())
    return note


class RowRegions(NamedTuple):
    """Each row's region, factorized: `codes[i]` indexes `regions` (the distinct region
    codes, None for no region), so phones are grouped by region without comparing a
    million strings again."""

    codes: np.ndarray
    regions: list[str | None]

    def take(self, rows: np.ndarray) -> RowRegions:
        return RowRegions(self.codes[rows], self.regions)


def row_regions(countries: pd.Series, default: str | None, label: str = "Country"
                ) -> tuple[RowRegions | None, pd.Series]:
    """Each row's region code from its country as written (ISO codes or names, see
    `countries`), the default where blank or unknown; and a note where unknown.
    Each distinct value is looked up once. None when every row has the same region
    (the plain per-value path then serves)."""

    codes, uniques = pd.factorize(countries.to_numpy(dtype=object), use_na_sentinel=False)
    found = regions_of([str(u) for u in uniques])
    fallback = default or "international (+code) only"
    note_u = np.array([None if f or not str(u).strip() else
                       f"{label} {str(u).strip()!r} unknown; read as {fallback}"
                       for u, f in zip(uniques, found)], dtype=object)
    notes = pd.Series(note_u.take(codes), index=countries.index, dtype=object)
    # the distinct regions, and each distinct country's position among them
    regions = list(dict.fromkeys(f or default for f in found))
    if len(regions) <= 1 and regions in ([default], []):
        return None, notes
    position = {r: i for i, r in enumerate(regions)}
    per_country = np.array([position[f or default] for f in found], dtype=np.int64)
    return RowRegions(per_country.take(codes), regions), notes


def phones_column(raw: pd.Series, regions: RowRegions | None, default: str | None
                  ) -> tuple[pd.Series, pd.Series, pd.Series]:
    """`normalize_phones` over a column, once per distinct value, or per distinct
    (value, region) pair when each row has its own region: three Series (e164,
    reason, note). The pairs are found by one factorization of the values and one
    sort of their codes combined with the rows' region codes, so a million rows cost
    no per-row Python work."""
    if regions is None:
        return map_unique(raw, batch=lambda values: normalize_phones(values, default))
    k = len(regions.regions)
    if k == 1:
        only = regions.regions[0]
        return map_unique(raw, batch=lambda values: normalize_phones(values, only))
    v_codes, v_uniques = pd.factorize(raw.to_numpy(dtype=object), use_na_sentinel=False)
    # a blank value, or one written with its +country code, reads the same in every
    # region: such values are not paired with the rows' regions
    free = np.fromiter((not str(u).strip() or str(u).lstrip().startswith("+")
                        for u in v_uniques), bool, len(v_uniques))
    if free.all():
        return map_unique(raw, batch=lambda values: normalize_phones(values, default))
    pairs, inverse = np.unique(v_codes.astype(np.int64) * k
                               + np.where(free[v_codes], 0, regions.codes),
                               return_inverse=True)
    value_of, region_of = pairs // k, pairs % k
    cols = [np.empty(len(pairs), dtype=object) for _ in range(3)]
    for code, region in enumerate(regions.regions):
        at = np.flatnonzero(region_of == code)
        if len(at):
            got = normalize_phones(list(v_uniques[value_of[at]]), region)
            for target, col in zip(cols, got):
                target[at] = col
    out = [pd.Series(col.take(inverse.reshape(-1)), index=raw.index, dtype=object)
           for col in cols]
    return out[0], out[1], out[2]


def first_valid_phone(parts: Sequence[pd.Series], labels: Sequence[str],
                      regions: RowRegions | None, default: str | None
                      ) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Of several phone columns, per row, the first that gives a valid number.

    Returns (e164, reason, note, the raw value used). A row none of whose
    columns is valid is ``missing_phone`` when all are blank, else ``invalid_phone``
    with a note naming every column tried and what was wrong with it. A row that
    used a later column while an earlier one was filled carries a note
    (``Phone 1 invalid (229.077.5154); used Phone 2``)."""
    index = parts[0].index
    n = len(index)
    chosen = np.full(n, -1)
    e164 = np.full(n, None, dtype=object)
    note = np.full(n, None, dtype=object)
    used = np.full(n, None, dtype=object)
    # per column, for the rows it was tried on: blank, and why it was not valid
    blank = [np.zeros(n, dtype=bool) for _ in parts]
    why = [np.full(n, None, dtype=object) for _ in parts]
    raw = [p.to_numpy(dtype=object) for p in parts]
    todo = np.ones(n, dtype=bool)
    for i, part in enumerate(parts):
        # a column is read only for the rows no earlier column gave a number
        idx = np.flatnonzero(todo)
        if not len(idx):
            break
        whole = len(idx) == n
        value, reason, extra = phones_column(
            part if whole else part.iloc[idx],
            None if regions is None else regions if whole else regions.take(idx), default)
        value, reason, extra = (value.to_numpy(), reason.to_numpy(), extra.to_numpy())
        ok = pd.isna(reason) & ~pd.isna(value)
        blank[i][idx] = reason == "missing_phone"
        why[i][idx] = extra
        hit = idx[ok]
        chosen[hit] = i
        e164[hit] = value[ok]
        note[hit] = extra[ok]
        used[hit] = raw[i][hit]
        todo[hit] = False
    reason = np.full(n, None, dtype=object)
    none = chosen < 0
    all_blank = np.logical_and.reduce(blank) & none
    reason[all_blank] = "missing_phone"
    e164[all_blank] = ""
    first_filled = np.full(n, None, dtype=object)
    for i in reversed(range(len(parts))):
        first_filled[~blank[i]] = raw[i][~blank[i]]
    used[none] = np.where(all_blank[none], "", first_filled[none])
    for row in np.flatnonzero(none & ~all_blank):
        reason[row] = "invalid_phone"
        note[row] = "; ".join(f"{label}: {'blank' if blank[i][row] else why[i][row]}"
                              for i, label in enumerate(labels))
    later = np.flatnonzero(chosen > 0)
    for row in later:
        skipped = [f"{labels[i]} invalid ({str(raw[i][row]).strip()})"
                   for i in range(chosen[row]) if not blank[i][row]]
        if skipped:
            text = "; ".join(skipped) + f"; used {labels[chosen[row]]}"
            note[row] = text if note[row] is None else f"{text}; {note[row]}"
    as_series = [pd.Series(a, index=index, dtype=object) for a in (e164, reason, note, used)]
    return as_series[0], as_series[1], as_series[2], as_series[3]


def _not_blank(s: pd.Series) -> pd.Series:
    return s.notna() & s.ne("")


def build_schema(required: Iterable[str], *, across_rows: bool = True) -> pa.DataFrameSchema:
    """The pandera schema over the normalized work frame.

    In the work frame a field is "" when the source was blank and NA when the
    source value could not be normalized, so each check is a plain column check
    named by its reason code. Without `across_rows`, only the rules of single rows
    (the duplicate keys are then found by `normalize_contacts` over every chunk).
    """
    required = set(required)

    def present(reason: str) -> list[pa.Check]:
        return [pa.Check(lambda s: s.fillna("?").ne(""), name=reason, ignore_na=False)]

    def parsed(reason: str) -> pa.Check:
        return pa.Check(lambda s: s.notna(), name=reason, ignore_na=False)

    key_checks = [
        pa.Check(lambda s: s.ne(""), name="missing_key", ignore_na=False),
        pa.Check(lambda s: ~s.str.fullmatch(EXCEL_NUMBER_KEY), name="invalid_key",
                 ignore_na=False),
    ] + ([pa.Check(lambda s: s.eq("") | ~s.duplicated(keep=False), name="duplicate_key",
                   ignore_na=False)] if across_rows else [])
    name_checks = (present("missing_name") if "name" in required else []) + [
        pa.Check(lambda s: s.str.len().le(NAME_MAX_LENGTH), name="name_too_long",
                 ignore_na=False)]
    phone_checks = (present("missing_phone") if "phone_number" in required else []) + [
        parsed("invalid_phone")]
    email_checks = (present("missing_email") if "email" in required else []) + [
        parsed("invalid_email")]
    outbound_checks = (present("missing_outbound_number")
                       if "outbound_number" in required else []) + [
        parsed("invalid_outbound_number")]
    return pa.DataFrameSchema(
        {
            "external_unique_id": pa.Column(checks=key_checks, nullable=True),
            "name": pa.Column(checks=name_checks, nullable=True),
            "email": pa.Column(checks=email_checks, nullable=True),
            "phone_number": pa.Column(checks=phone_checks, nullable=True),
            "outbound_number": pa.Column(checks=outbound_checks, nullable=True),
        },
        strict=False, coerce=False, name="contacts")


def build_row_schema() -> pa.DataFrameSchema:
    """The row rule: two keys with one phone. Run on rows ordered so that the ones
    without other problems come first (file order kept within), so the first of those
    keeps the phone and every later row with it fails `duplicate_phone`."""
    return pa.DataFrameSchema({"phone_number": pa.Column(checks=[
        pa.Check(lambda s: s.isna() | s.eq("") | ~s.duplicated(keep="first"),
                 name="duplicate_phone", ignore_na=False)], nullable=True)},
        strict=False, coerce=False, name="contacts-rows")


def _failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """(index, field, reason) of every failed check."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["index"].notna()]
        return pd.DataFrame({"index": fc["index"].astype("int64").to_numpy(),
                             "field": fc["column"].astype(str).to_numpy(),
                             "reason": fc["check"].astype(str).to_numpy()})
    return pd.DataFrame({"index": pd.Series([], dtype="int64"),
                         "field": pd.Series([], dtype=str), "reason": pd.Series([], dtype=str)})


#: rows normalized at a time: the objects of one chunk are all that is held as Python
#: strings; the rules across rows (duplicate keys and phones) then run over every chunk
CHUNK_ROWS = 100_000


@dataclass
class _Chunk:
    """One chunk normalized: every row's normalized fields (Arrow text; NA where a
    value could not be normalized), its problems found within the chunk (positions
    in the whole frame) and their records, its notes."""

    work: pd.DataFrame
    raw_phone: pd.Series
    fails: pd.DataFrame
    records: pd.DataFrame
    notes: list[pd.DataFrame]


def normalize_contacts(mapped: pd.DataFrame, *, region: str | None,
                       required: Sequence[str] = DEFAULT_REQUIRED,
                       candidates: dict[str, list[str]] | None = None,
                       region_label: str = "Country",
                       structured: dict[str, pd.Series] | None = None,
                       chunk_rows: int | None = None) -> ValidationResult:
    """Normalize and validate mapped contacts (the five fields + ``__line__``).

    Every problem becomes one reject record; a row with any problem is rejected
    once. Valid rows come back normalized: key trimmed, name's whitespace collapsed,
    phones in E.164, email normalized.

    `region` reads national numbers; a ``__region__`` column (each row's country as
    written, `region_label` its column's name) overrides it per row. `candidates`
    names, for a phone field built from several columns (frame columns
    ``FIELD:0``, ``FIELD:1``...), each column: the first that gives a valid number is
    used (see `first_valid_phone`). `structured` marks, per field, the rows whose
    value was built from a JSON object or array (what it was), rejected as
    ``structured_value``.

    The rows are normalized `chunk_rows` at a time (`CHUNK_ROWS`), each chunk's
    normalized fields kept as Arrow text; then the rules across rows run over all
    of them: a key on two rows (`duplicate_key`), a phone on two keys
    (`duplicate_phone`). The result does not depend on the chunk size.
    """
    frame = mapped.reset_index(drop=True)
    n = len(frame)
    size = chunk_rows or CHUNK_ROWS
    chunks = [_normalize_chunk(frame.iloc[i:i + size], i, region=region, required=required,
                               candidates=candidates, region_label=region_label,
                               structured={f: w.iloc[i:i + size]
                                           for f, w in (structured or {}).items()})
              for i in range(0, n, size)] or [
        _normalize_chunk(frame, 0, region=region, required=required, candidates=candidates,
                         region_label=region_label, structured={})]
    lines = (frame[LINE_COLUMN].to_numpy(dtype="int64") if LINE_COLUMN in frame
             else np.arange(2, n + 2, dtype="int64"))
    work = pd.concat([c.work for c in chunks], ignore_index=True) if len(chunks) > 1 else \
        chunks[0].work.reset_index(drop=True)
    raw_phone = pd.concat([c.raw_phone for c in chunks], ignore_index=True).to_numpy(
        dtype=object, na_value="") if n else np.array([], dtype=object)
    first = pd.concat([c.fails for c in chunks], ignore_index=True)
    records = pd.concat([c.records for c in chunks], ignore_index=True)
    note_frames = [f for c in chunks for f in c.notes]
    del chunks

    # -- the rules across rows
    keys = work["external_unique_id"]
    dup_key = (keys.ne("") & keys.duplicated(keep=False)).to_numpy()
    key_structured = (structured or {}).get("external_unique_id")
    if key_structured is not None:  # its only problem is being a JSON value
        dup_key &= ~key_structured.notna().to_numpy()
    extra = []
    if dup_key.any():
        at = np.flatnonzero(dup_key)
        extra.append(pd.DataFrame({"index": at, "field": "external_unique_id",
                                   "reason": "duplicate_key"}))
        raw_key = frame["external_unique_id"].iloc[at].to_numpy(dtype=object, na_value="")
        records = pd.concat([records, _records(
            at, "external_unique_id", "duplicate_key",
            [str(v) for v in raw_key], [REASON_HINTS.get("duplicate_key", "")] * len(at),
            work, frame, lines)], ignore_index=True)
        first = pd.concat([first, extra[-1]], ignore_index=True)
    bad_first = np.zeros(n, dtype=bool)
    bad_first[first["index"].to_numpy(dtype="int64")] = True
    # a phone on two rows: the rows without other problems come first (file order kept
    # within), so the first of those keeps the phone and every later row with it fails;
    # a phone only counts as taken by a row that is otherwise clean: rows that are all
    # rejected (e.g. one key written twice) do not claim it from each other
    phone = work["phone_number"]
    order = np.concatenate([np.flatnonzero(~bad_first), np.flatnonzero(bad_first)])
    claimed = phone.take(order)
    has = (claimed.notna() & claimed.ne("")).to_numpy()
    dup = has & claimed.duplicated(keep="first").to_numpy()
    if dup.any():
        clean_phones = set(phone[~bad_first & phone.notna().to_numpy()
                                 & phone.ne("").to_numpy()].tolist())
        dup_at = order[dup]
        dup_phones = phone.to_numpy(dtype=object, na_value="")[dup_at]
        counted = np.fromiter((p in clean_phones for p in dup_phones), bool, len(dup_at))
        dup_at, dup_phones = dup_at[counted], dup_phones[counted]
        if len(dup_at):
            kept = has & ~dup
            keepers = dict(zip(claimed.to_numpy(dtype=object)[kept].tolist(),
                               order[kept].tolist()))
            hints = []
            for ph in dup_phones:
                keeper = keepers[ph]
                hints.append(f"line {int(lines[keeper])} (key "
                             f"{work['external_unique_id'].iat[keeper]!r}) has the same phone "
                             f"{ph} and is kept; " + REASON_HINTS.get("duplicate_phone", ""))
            records = pd.concat([records, _records(
                dup_at, "phone_number", "duplicate_phone",
                [str(v) for v in raw_phone[dup_at]], hints, work, frame, lines)],
                ignore_index=True)
            first = pd.concat([first, pd.DataFrame({"index": dup_at, "field": "phone_number",
                                                    "reason": "duplicate_phone"})],
                              ignore_index=True)
    rejects = records.sort_values(["__index__"], kind="stable").drop(columns="__index__")
    rejects = rejects.sort_values(["line", "field"], kind="stable").reset_index(drop=True)
    for c in ("key", "field", "value", "reason", "hint", "name", "email"):
        rejects[c] = rejects[c].astype(str)

    bad = np.zeros(n, dtype=bool)
    bad[first["index"].to_numpy(dtype="int64")] = True
    valid = work.loc[~bad, list(API_FIELDS)]
    valid = pd.DataFrame({fld: one_chunk(valid[fld].fillna("").astype(TEXT))
                          for fld in API_FIELDS})
    valid[LINE_COLUMN] = lines[~bad]
    valid = valid.reset_index(drop=True)

    notes = (pd.concat(note_frames, ignore_index=True) if note_frames else
             pd.DataFrame({"line": pd.Series([], dtype="int64"), "field": pd.Series([], dtype=str),
                           "value": pd.Series([], dtype=str), "note": pd.Series([], dtype=str)}))
    if len(notes):
        notes = notes[notes["line"].isin(valid[LINE_COLUMN])].sort_values(
            ["line", "field"], kind="stable").reset_index(drop=True)
    counts = {str(k): int(v) for k, v in rejects["reason"].value_counts().items()}
    rejected_rows = pd.DataFrame({
        "line": lines[bad],
        "key": work.loc[bad, "external_unique_id"].fillna("").astype(str).to_numpy(dtype=object),
        "phone_number": work.loc[bad, "phone_number"].fillna("").astype(str).to_numpy(
            dtype=object),
        "email": work.loc[bad, "email"].fillna("").astype(str).to_numpy(dtype=object)})
    return ValidationResult(valid=valid, rejects=rejects,
                            rejected_lines=sorted(int(x) for x in lines[bad].tolist()),
                            notes=notes, reason_counts=counts, rows=n,
                            rejected_rows=rejected_rows)


def _records(at: np.ndarray, fld: str, reason: str, values: list[str], hints: list[str],
             work: pd.DataFrame, frame: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
    """Reject records of one field and reason, at positions `at` of the whole frame."""
    raw_email = (frame["email"].iloc[at].to_numpy(dtype=object, na_value="")
                 if "email" in frame else np.full(len(at), "", dtype=object))
    return pd.DataFrame({
        "__index__": at, "line": lines[at],
        "key": work["external_unique_id"].iloc[at].to_numpy(dtype=object, na_value=""),
        "field": fld, "value": values, "reason": reason, "hint": hints,
        "name": work["name"].iloc[at].to_numpy(dtype=object, na_value=""),
        "email": [str(v) for v in raw_email]})


def _normalize_chunk(frame: pd.DataFrame, offset: int, *, region: str | None,
                     required: Sequence[str], candidates: dict[str, list[str]] | None,
                     region_label: str, structured: dict[str, pd.Series]) -> _Chunk:
    """The rules of single rows over one chunk (rows at `offset` of the whole)."""
    frame = frame.reset_index(drop=True)
    n = len(frame)
    lines = (frame[LINE_COLUMN].astype("int64") if LINE_COLUMN in frame
             else pd.Series(range(offset + 2, offset + n + 2), dtype="int64"))
    raw = {f: (as_text(frame[f]) if f in frame else
               pd.Series([""] * n, dtype=object)) for f in API_FIELDS}

    work = pd.DataFrame(index=frame.index)
    # keys: surrounding whitespace and invisible characters (a stray BOM, zero-width
    # spaces pasted from the web) go, so "k2\u200b" is the contact "k2"
    work["external_unique_id"] = raw["external_unique_id"].str.strip(KEY_STRIP)
    work["name"] = collapse_spaces(raw["name"])

    note_frames = []
    regions = None
    if REGION_COLUMN in frame:
        regions, region_notes = row_regions(as_text(frame[REGION_COLUMN]),
                                            region, region_label)
        if region_notes.notna().any():
            has = region_notes.notna()
            note_frames.append(_note_frame(lines[has], "phone_number",
                                           frame.loc[has, REGION_COLUMN], region_notes[has]))
    phones: dict[str, pd.Series] = {}
    for fld in ("phone_number", "outbound_number"):
        labels = (candidates or {}).get(fld)
        if labels and all(f"{fld}:{i}" in frame for i in range(len(labels))):
            parts = [as_text(frame[f"{fld}:{i}"]) for i in range(len(labels))]
            value, reason, note, used = first_valid_phone(parts, labels, regions, region)
            raw[fld] = used
        else:
            value, reason, note = phones_column(raw[fld], regions, region)
        blank = reason.eq("missing_phone")
        value = value.where(~blank, "")  # "" blank, NA invalid
        work[fld] = value
        phones[fld] = reason
        has_note = note.notna() & value.notna() & value.ne("")
        if has_note.any():
            note_frames.append(_note_frame(lines[has_note], fld, raw[fld][has_note],
                                           note[has_note]))
        phones[fld + ".note"] = note
    evalue, ereason, enote = map_unique(raw["email"], batch=normalize_emails)
    work["email"] = evalue

    first = _failures(build_schema(required, across_rows=False), work)
    for fld, why in structured.items():
        hit = np.flatnonzero(why.notna().to_numpy())
        if len(hit):
            # the JSON text is no value to check: its only problem is being one
            first = first[~(first["field"].eq(fld) & first["index"].isin(hit))]
            first = pd.concat([first, pd.DataFrame({
                "index": hit.astype("int64"), "field": fld,
                "reason": "structured_value"})], ignore_index=True)
    first = first.sort_values(["index"], kind="stable").reset_index(drop=True)
    idx = first["index"].to_numpy()
    reasons = first["reason"].to_numpy()
    fields = first["field"].to_numpy()
    hints = [REASON_HINTS.get(r, "") for r in reasons]
    detail = {"phone_number": phones["phone_number.note"],
              "outbound_number": phones["outbound_number.note"], "email": enote}
    values = []
    for i, (row, fld, reason) in enumerate(zip(idx, fields, reasons)):
        values.append(raw[fld].iat[row] if fld in raw else "")
        why = detail[fld].iat[row] if fld in detail and reason.startswith("invalid") else None
        if reason == "structured_value":
            why = structured[fld].iat[row]
        if why:
            hints[i] = f"{why}; {hints[i]}"
    at = idx.astype("int64") + offset
    records = pd.DataFrame({
        "__index__": at, "line": lines.to_numpy()[idx] if len(idx) else np.array([], "int64"),
        "key": work["external_unique_id"].to_numpy(dtype=object)[idx],
        "field": np.asarray(fields, dtype=object), "value": np.asarray(values, dtype=object),
        "reason": np.asarray(reasons, dtype=object), "hint": np.asarray(hints, dtype=object),
        # who the row is, so a steward can find the person it describes
        "name": work["name"].to_numpy(dtype=object)[idx],
        "email": raw["email"].to_numpy(dtype=object)[idx]})
    first = pd.DataFrame({"index": at, "field": fields, "reason": reasons})
    compact = pd.DataFrame({c: work[c].astype(TEXT) for c in API_FIELDS})
    return _Chunk(work=compact, raw_phone=raw["phone_number"].astype(TEXT), fails=first,
                  records=records, notes=note_frames)
