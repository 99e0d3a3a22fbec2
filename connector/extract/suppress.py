"""Suppression lists: numbers (and emails, keys) that must not be dialed, read from CSV,
Excel or JSON files by the same readers as a source.

The columns are named by the mapping's `suppress:` section (phone, email, key, each a
column or a list of them); without it, they are found by name (a column whose name
says phone, mobile, number or tel; email or mail; external_unique_id, key or id), and
a file of one column is a list of phones. Phones are normalized as a source's are (the
mapping's region for national numbers), so `(201) 471-6992` matches `+12014716992`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..contact import LINE_COLUMN
from ..errors import SourceError
from ..normalize import fold_name, norm_emails, normalize_phones, stripped_text
from .mapping import Mapping
from .readers import read_source

_NAMES = {
    "phone": ("phone", "mobile", "number", "tel", "msisdn", "cell"),
    "email": ("email", "e-mail", "mail"),
    "key": ("external_unique_id", "external id", "key", "id", "record id"),
}


@dataclass
class Suppression:
    """What the lists suppress: E.164 phone / lower-cased email / key -> the list's file
    name."""

    phones: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    #: per file, the entries that are no number, email or key (blanks aside)
    unusable: dict[str, int] = field(default_factory=dict)
    #: per file, the first of them: (line, value)
    example: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: per file, the columns read (column -> phone, email or key) and those ignored
    read: dict[str, dict[str, str]] = field(default_factory=dict)
    ignored: dict[str, list[str]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """What was read of each list, in words (what was ignored, and why)."""
        out = []
        for name in self.files:
            read = ", ".join(f"{c} ({k})" for c, k in self.read.get(name, {}).items())
            text = f"suppression list {name}: read {read}"
            if self.ignored.get(name):
                text += f"; columns ignored: {', '.join(self.ignored[name])}"
            n = self.unusable.get(name, 0)
            if n:
                line, value = self.example[name]
                text += (f"; {n:,} {'entry is' if n == 1 else 'entries are'} no valid number, "
                         f"email or key, ignored (e.g. line {line}: {value!r})")
            out.append(text)
        return out

    def __bool__(self) -> bool:
        return bool(self.phones or self.emails or self.keys)


def _columns(path: Path, found: list[str], mapping: Mapping | None, *, for_dnc: bool = False
             ) -> dict[str, list[str]]:
    named = dict(mapping.suppress) if mapping is not None and mapping.suppress else {}
    folded = {fold_name(c): c for c in found}
    if named:
        out: dict[str, list[str]] = {}
        for kind, columns in named.items():
            for column in columns:
                real = folded.get(fold_name(column))
                if real is None:
                    raise SourceError(f"{path}: no column {column!r} (the mapping's "
                                      f"suppress.{kind})",
                                      hint="the file has: " + ", ".join(found))
                out.setdefault(kind, []).append(real)
        return out
    out = {}
    for column in found:
        name = fold_name(column)
        words = set(re.split(r"[\s_\-]+", name)) | {name}
        for kind in ("email", "key", "phone"):  # "email" before "phone": "mail" in both
            if words & set(_NAMES[kind]) or (kind == "phone" and "phone" in name):
                out.setdefault(kind, []).append(column)
                break
    if not out and len(found) == 1:
        out["phone"] = list(found)  # (a header that is itself a number: see _header_number)
    if not out:
        if for_dnc:
            raise SourceError(f"{path}: no phone column (found: {', '.join(found) or 'none'})",
                              hint="name the numbers' column phone (or mobile, number), or "
                                   "give a file of one column")
        raise SourceError(f"{path}: no phone, email or key column in a suppression list "
                          f"(found: {', '.join(found) or 'none'})",
                          hint="name the columns in the mapping's suppress: section, e.g. "
                               "suppress: {phone: Mobile}")
    return out


def _header_number(found: list[str], columns: dict[str, list[str]], region: str | None
                   ) -> str:
    """A one-column file without a header line: the reader took its first number for
    the column's name. Returns that number (as written) when so, else ""."""
    if len(found) != 1 or list(columns) != ["phone"]:
        return ""
    e164, _reasons, _notes = normalize_phones([found[0]], region)
    return found[0] if e164[0] else ""


def read_suppressions(paths: list[str | Path], mapping: Mapping | None,
                      region: str | None = None) -> Suppression:
    """Every list in `paths`, merged (the first file naming an entry is the one
    reported)."""
    out = Suppression()
    for raw in paths:
        path = Path(raw)
        frame, info = read_source(str(path))
        found = [c for c in (getattr(info, "columns", None) or frame.columns)
                 if c != LINE_COLUMN]
        columns = _columns(path, found, mapping)
        first = _header_number(found, columns, region)
        if first:
            frame = pd.concat([pd.DataFrame({found[0]: [first]}), frame], ignore_index=True)
        out.files.append(path.name)
        unusable = 0
        out.read[path.name] = {c: k for k, names in columns.items() for c in names}
        out.ignored[path.name] = [c for c in found if c not in out.read[path.name]]
        lines = (frame[LINE_COLUMN] if LINE_COLUMN in frame
                 else pd.Series(range(2, len(frame) + 2)))
        for kind, names in columns.items():
            for column in names:
                values = frame[column] if column in frame else pd.Series([], dtype=object)
                if kind == "phone":  # valid numbers only, in E.164
                    e164, _reasons, _notes = normalize_phones(values.tolist(), region)
                    normal = pd.Series([x or "" for x in e164], dtype=object)
                    target = out.phones
                elif kind == "email":  # compared without case (see plan.compliance)
                    normal = norm_emails(values).str.lower()
                    target = out.emails
                else:
                    normal = stripped_text(values)
                    target = out.keys
                blank = stripped_text(values).eq("").to_numpy()
                bad = normal.eq("").to_numpy() & ~blank
                unusable += int(bad.sum())
                if bad.any() and path.name not in out.example:
                    at = int(bad.argmax())
                    out.example[path.name] = (int(lines.iloc[at]) if at < len(lines) else at,
                                              str(values.iloc[at]))
                for value in normal[normal.ne("")].tolist():
                    target.setdefault(value, path.name)
        out.unusable[path.name] = unusable
    return out


def read_numbers(paths: list[str | Path], mapping: Mapping | None, region: str | None
                 ) -> list[tuple[str, str | None]]:
    """The phone numbers of the files, each as written and in E.164 (None when it is no
    valid number), in file order, without repeats: for the company Do-Not-Call list."""
    out: dict[str, str | None] = {}
    for raw in paths:
        path = Path(raw)
        frame, info = read_source(str(path))
        found = [c for c in (getattr(info, "columns", None) or frame.columns)
                 if c != LINE_COLUMN]
        named = _columns(path, found, mapping, for_dnc=True)
        columns = named.get("phone")
        first = _header_number(found, named, region)
        if first:
            frame = pd.concat([pd.DataFrame({found[0]: [first]}), frame], ignore_index=True)
        if not columns:
            raise SourceError(f"{path}: no phone column (found: {', '.join(found)})",
                              hint="name the numbers' column phone (or mobile, number), or "
                                   "give a file of one column")
        for column in columns:
            values = stripped_text(frame[column])
            values = values[values.ne("")].tolist()
            e164, _reasons, _notes = normalize_phones(values, region)
            for text, number in zip(values, e164):
                out.setdefault(text, number)
    return list(out.items())


def read_keys(path: str | Path) -> list[str]:
    """The keys of a holds file: one a line, or a table (CSV, Excel, JSON) whose key
    column is found by name (external_unique_id, key, id, record id)."""
    target = Path(path)
    text_lines = []
    if target.suffix.lower() in ("", ".txt", ".csv", ".tsv"):
        text_lines = [line.strip() for line in
                      target.read_text(encoding="utf-8-sig").splitlines()]
        if not any(sep in line for line in text_lines for sep in ",;\t"):
            keys = [k for k in text_lines if k and not k.startswith("#")]
            if keys and fold_name(keys[0]) in ("key", "external_unique_id", "external id",
                                                 "id", "record id"):
                keys = keys[1:]
            return keys
    frame, info = read_source(str(target))
    found = [c for c in (getattr(info, "columns", None) or frame.columns) if c != LINE_COLUMN]
    folded = {fold_name(c): c for c in found}
    column = next((folded[n] for n in _NAMES["key"] if n in folded), None)
    if column is None:
        raise SourceError(f"{target}: no key column (found: {', '.join(found)})",
                          hint="name it external_unique_id (or key, id), or give one key a "
                               "line")
    values = stripped_text(frame[column])
    return values[values.ne("")].tolist()
