"""campaign-sync: keep an outbound-dialer campaign's contacts in step with an export."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("campaign-sync")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
