"""The platform's campaign contact endpoints: HTTP session (http.py) and resources (client.py)."""

from .client import AddResult, ApiClient, ImportResult, Job, RemoteContact

__all__ = ["AddResult", "ApiClient", "ImportResult", "Job", "RemoteContact"]
