"""Build sample_data/contacts.xlsx: a HubSpot contacts export saved from Excel.

What makes it awkward, on purpose:
- the first sheet ("Summary") is a per-owner count, not the contacts;
- the "Contacts" sheet has two title lines and a blank row above the header
  (header on row 4);
- Record IDs and many phone numbers are numeric cells (int, and float as
  Excel stores them), which the reader turns back into digits.

Read it with the shipped hubspot mapping (no source.sheet set: the reader picks
the first sheet holding the mapped columns). Run from the repository root:

    .venv/bin/python sample_data/make_xlsx.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook

OUT = Path(__file__).resolve().parent / "contacts.xlsx"

HEADER = ["Record ID", "First Name", "Last Name", "Email", "Phone Number",
          "Mobile Phone Number", "Contact owner", "Lifecycle Stage", "Create Date"]

# (Record ID, First Name, Last Name, Email, Phone Number, Mobile Phone Number,
#  Contact owner, Lifecycle Stage, Create Date); Excel rows 5..21
CONTACTS = [
    (51234567901, "Rosa", "Delgado", "rosa.delgado@example.com", 2014716960, None,
     "Dana Whitaker", "Customer", dt.datetime(2025, 1, 14, 9, 30)),
    (51234567902, "Henry", "Zhou", "henry.zhou@example.com", 2014716961.0, None,
     "Dana Whitaker", "Lead", dt.datetime(2025, 2, 3, 11, 0)),
    (51234567903, "Amara", "Obi", "amara.obi@example.com", "(201) 471-6962", None,
     "Luis Ortega", "Opportunity", dt.datetime(2025, 2, 20, 15, 45)),
    (51234567904, "Felix", "Wagner", "felix.wagner@example.de", None, 12014716963,
     "Luis Ortega", "Lead", dt.datetime(2025, 3, 8, 8, 15)),
    (51234567905, "Nina", "Sorensen", "nina.sorensen@example.dk", 4716964, None,
     "Dana Whitaker", "Subscriber", dt.datetime(2025, 3, 29, 10, 5)),
    (51234567906, "Omar", "Haddad", "omar.haddad@example.com", None, None,
     "Luis Ortega", "Lead", dt.datetime(2025, 4, 11, 13, 20)),
    (51234567907, "Julia", "Santos", "julia.santos@example.br", 2014716960, None,
     "Dana Whitaker", "Lead", dt.datetime(2025, 5, 2, 9, 0)),
    (51234567908, "Kim", "Lee", "kim.lee@example", 2014716965, None,
     "Luis Ortega", "Marketing Qualified Lead", dt.datetime(2025, 5, 19, 14, 10)),
    (51234567909, "Paul", "Meyer", "paul.meyer@example.com", 2014716966.0, 2014716967,
     "Dana Whitaker", "Customer", dt.datetime(2025, 6, 6, 16, 30)),
    (51234567910, "Leah", "Goldberg", "Leah.Goldberg@Example.ORG", 2014716968, None,
     "Luis Ortega", "Sales Qualified Lead", dt.datetime(2025, 6, 25, 10, 40)),
    (51234567911, "Ivan", "Petrov", "ivan.petrov@example.com", "201.471.6969", None,
     "Dana Whitaker", "Lead", dt.datetime(2025, 7, 14, 12, 0)),
    (51234567912, "Zoe", "Campbell", "zoe.campbell@example.com", 2014716980, None,
     "Luis Ortega", "Evangelist", dt.datetime(2025, 8, 1, 9, 55)),
    (51234567913, "Arjun", "Kapoor", "arjun.kapoor@example.in", 2014716981.0, None,
     "Dana Whitaker", "Customer", dt.datetime(2025, 8, 22, 11, 11)),
    (None, "Sara", "Lindgren", "sara.lindgren@example.se", 2014716982, None,
     "Luis Ortega", "Lead", dt.datetime(2025, 9, 9, 15, 0)),
    (51234567915, "Diego", "Ramos", "diego.ramos@example.com", 2014716983, None,
     "Dana Whitaker", "Other", dt.datetime(2025, 9, 30, 8, 45)),
    (51234567916, "Mei", "Tanaka", "mei.tanaka@example.jp", "+1 201 471 6984", None,
     "Luis Ortega", "Lead", dt.datetime(2025, 10, 17, 17, 25)),
    (51234567917, "Lars", "Berg", "lars.berg@example.com", 2014716985, None,
     "Dana Whitaker", "Subscriber", dt.datetime(2025, 11, 4, 10, 30)),
]


def build(path: Path = OUT) -> Path:
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    summary.append(["Contacts by owner"])
    summary.append([])
    summary.append(["Contact owner", "Email", "Contacts"])
    summary.append(["Dana Whitaker", "dana.whitaker@example.com", 9])
    summary.append(["Luis Ortega", "luis.ortega@example.com", 8])

    ws = wb.create_sheet("Contacts")
    ws.append(["HubSpot contacts export: all contacts"])
    ws.append(["Exported 2026-11-30 by ops@example.com"])
    ws.append([])
    ws.append(HEADER)
    for row in CONTACTS:
        ws.append(list(row))
    for cell in ws["I"][4:]:
        cell.number_format = "yyyy-mm-dd hh:mm"
    wb.save(path)
    return path


if __name__ == "__main__":
    print(build())
