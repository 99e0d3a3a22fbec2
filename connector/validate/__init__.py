"""Validate: the mapped rows normalized and checked (mapped frame -> valid contacts +
rejects with a reason and a fix each). `schema` holds the pandera schema and the
batch validators, `countries` each row's country, `run` the pass over a source
(beside a thread reading the campaign when the source is large)."""

from .run import PARALLEL_MIN_ROWS, Validated, validate_prepared, validate_while, write_valid
from .schema import REASONS, ValidationResult, normalize_contacts

__all__ = ["PARALLEL_MIN_ROWS", "REASONS", "Validated", "ValidationResult",
           "normalize_contacts", "validate_prepared", "validate_while", "write_valid"]
