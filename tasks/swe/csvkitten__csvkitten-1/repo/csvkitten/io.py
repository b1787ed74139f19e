"""Reading and writing CSV files as :class:`~csvkitten.table.Table` objects."""

import csv
import io

from .infer import STR, convert, format_value, infer_type
from .table import Table


class CSVFormatError(ValueError):
    """The CSV input is malformed (e.g. ragged rows or duplicate headers)."""


def _read_rows(fp, delimiter):
    reader = csv.reader(fp, delimiter=delimiter)
    rows = [row for row in reader if row]
    if not rows:
        raise CSVFormatError("no header row")
    header = [name.strip() for name in rows[0]]
    if len(set(header)) != len(header):
        raise CSVFormatError("duplicate column names in header: %r" % (header,))
    body = rows[1:]
    for lineno, row in enumerate(body, 2):
        if len(row) != len(header):
            raise CSVFormatError("row %d has %d fields, expected %d"
                                 % (lineno, len(row), len(header)))
    return header, body


def read_csv(source, *, delimiter=",", infer=True, types=None):
    """Read CSV from a path or an open text file into a :class:`Table`.

    With ``infer`` every column gets the type :func:`infer_type` finds;
    ``types`` (a mapping of column name to type name) overrides it.
    """
    if hasattr(source, "read"):
        header, body = _read_rows(source, delimiter)
    else:
        with open(source, newline="", encoding="utf-8") as fp:
            header, body = _read_rows(fp, delimiter)
    types = dict(types or {})
    unknown = set(types) - set(header)
    if unknown:
        raise KeyError("types given for unknown columns: %s" % ", ".join(sorted(unknown)))
    column_types = []
    for index, name in enumerate(header):
        if name in types:
            column_types.append(types[name])
        elif infer:
            column_types.append(infer_type(row[index] for row in body))
        else:
            column_types.append(STR)
    rows = [[convert(value, t) for value, t in zip(row, column_types)] for row in body]
    return Table(header, rows, column_types)


def read_csv_text(text, **options):
    """Like :func:`read_csv` but from a string."""
    return read_csv(io.StringIO(text), **options)


def write_csv(table, dest, *, delimiter=","):
    """Write ``table`` to a path or an open text file."""
    if hasattr(dest, "write"):
        _write(table, dest, delimiter)
    else:
        with open(dest, "w", newline="", encoding="utf-8") as fp:
            _write(table, fp, delimiter)


def _write(table, fp, delimiter):
    writer = csv.writer(fp, delimiter=delimiter, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([format_value(value) for value in row])


def to_csv_text(table, **options):
    buffer = io.StringIO()
    write_csv(table, buffer, **options)
    return buffer.getvalue()
