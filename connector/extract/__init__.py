"""Extract: a contact export read and mapped (file -> mapped frame with line
numbers). The readers (CSV/TSV, Excel, JSON) live in `readers` and the modules
beside it, the mapping (YAML -> which columns make which field) in `mapping`, and
`read` puts them together."""

from .base import LINE_COLUMN, SourceHints, SourceInfo
from .mapping import Mapping, apply_mapping, check_columns, load_mapping, parse_mapping
from .read import prepare_source, source_chunks, source_columns, source_rows
from .readers import iter_source, read_source

__all__ = ["LINE_COLUMN", "Mapping", "SourceHints", "SourceInfo", "apply_mapping",
           "check_columns", "iter_source", "load_mapping", "parse_mapping",
           "prepare_source", "read_source", "source_chunks", "source_columns", "source_rows"]
