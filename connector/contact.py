"""What a contact is: the fields the platform's campaign endpoints accept, the column
of the source line, the statuses a campaign contact can have (api.md), and why a
source row is rejected, with its fix. Plain declarations; this module imports nothing of ours, and every room may import it."""

from __future__ import annotations

#: the fields of a contact the API accepts; external_unique_id is the sync key
API_FIELDS: tuple[str, ...] = (
    "external_unique_id", "name", "email", "phone_number", "outbound_number")
#: the fields a row must have unless its mapping says otherwise
DEFAULT_REQUIRED: tuple[str, ...] = ("external_unique_id", "name", "phone_number")
#: the column of a source frame holding the line (or row) a person sees in the file
LINE_COLUMN = "__line__"

#: a contact being dialed or on a call: not patched or deleted in this run
ACTIVE_STATUSES = frozenset({"Dialing", "Queued", "Connected", "Transferred"})
#: every status the platform documents; any other is reported and treated as not active
KNOWN_STATUSES = frozenset({
    "Upcoming", "Dialing", "Queued", "Connected", "Finished", "Transferred",
    "Transferred and Finished", "Not Picked Up", "Not Reached to Contact",
    "Abandoned by Contact", "Skipped", "Skipped & Closed", "Invalid Number", "Carrier Error",
    "Abandoned by Dialer", "Voicemail Hung Up", "Dialer General Error", "Redial Scheduled",
    "Do Not Call", "Invalid outbound number", "Blocked phone number",
})
#: a campaign contact as read from the platform, one column each (remote_id first)
REMOTE_COLUMNS = ("remote_id", "external_unique_id", "name", "email", "phone_number",
                  "outbound_number", "status")
#: the longest name the platform stores
NAME_MAX_LENGTH = 255

#: why a source row is rejected (reason code) -> how to fix it
REASON_HINTS: dict[str, str] = {
    "missing_key": "give the row its record ID (the sync key); rows without one cannot be synced",
    "duplicate_key": "each record ID may appear once; merge or remove the duplicate rows",
    "invalid_key": "the record ID was turned into a number in scientific notation by a "
                   "spreadsheet (1.23E+10): its digits are lost; export the column as text "
                   "and take the IDs from the CRM again",
    "missing_name": "fill in the contact's name",
    "name_too_long": f"shorten the name to at most {NAME_MAX_LENGTH} characters",
    "missing_phone": "fill in the contact's phone number",
    "invalid_phone": "write a full phone number, e.g. +1 201-471-6992, or set the mapping's "
                     "region for national numbers",
    "missing_email": "fill in the contact's email address",
    "invalid_email": "fix the email address (name@example.com) or leave it empty",
    "missing_outbound_number": "fill in the outbound (caller ID) number or set a default "
                               "in the mapping with {value: ...}",
    "invalid_outbound_number": "write a full outbound number, e.g. +1 760-867-5309",
    "structured_value": "a contact field holds text, not a JSON object or array: name a "
                        "field inside it by a dotted path (properties.phone) or map "
                        "another key",
    "duplicate_phone": "each contact needs its own phone number; the campaign rejects a whole "
                       "import when two contacts share one",
}
