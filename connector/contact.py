"""What a contact is: the fields the platform's campaign endpoints accept, the column
of the source line, and the statuses a campaign contact can have (api.md). Plain
declarations; this module imports nothing of ours, and every room may import it."""

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
