"""campaign-sync: keep an outbound-dialer campaign's contacts in step with an export."""

import os
from importlib.metadata import PackageNotFoundError, version

# The large tables are Arrow text, allocated by Arrow's mimalloc pool, which by default
# keeps freed pages for a while: a plan in parts frees each part's tables as the next
# one is built, so the pages are handed back at once (peak of a 1M x 1M plan: 1,306 MiB
# instead of 1,486; benchmarks/scale.py). Read by mimalloc at its first allocation, so
# set before pandas loads pyarrow; a value the user set is kept.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")

try:
    __version__ = version("campaign-sync")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
