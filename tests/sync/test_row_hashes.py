"""The campaign's row hashes do not depend on how its columns arrive: the state
store compares them night after night, so a cheaper reading must hash the same."""
from __future__ import annotations

import pandas as pd

from connector.incremental import HASH_FIELDS, remote_hashes


def test_campaign_hashes_are_the_same_for_text_columns_and_for_mixed_ones():
    text = pd.DataFrame({
        "remote_id": [1, 2, 3],
        "external_unique_id": ["k1", "k2", "k3"], "name": ["Ann", "", "Zoë"],
        "email": ["a@x.org", "", ""], "phone_number": ["+12015550100", "", "+33"],
        "outbound_number": ["", "", ""], "status": ["Pending", "", "Done"]}, dtype=object)
    mixed = text.copy()
    mixed.loc[1, "name"] = None           # missing: hashed as ""
    mixed.loc[2, "email"] = float("nan")
    as_str = text.astype({c: "str" for c in HASH_FIELDS})  # pandas' own string dtype
    expected = remote_hashes(text).tolist()
    assert remote_hashes(mixed).tolist() == expected
    assert remote_hashes(as_str).tolist() == expected
    assert len(set(expected)) == 3
    # the status is not hashed (the dialer changes it all day)
    assert remote_hashes(text.assign(status="Done")).tolist() == expected
