"""csvkitten - small CSV utilities."""

from .infer import (BOOL, DATE, FLOAT, INT, STR, convert, format_value, infer_type,
                    is_missing, value_type)
from .io import CSVFormatError, read_csv, read_csv_text, to_csv_text, write_csv
from .table import AGGREGATES, Table

__version__ = "1.0.0"
