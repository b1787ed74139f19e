"""An in-memory table of typed rows."""

import operator
import statistics

from .infer import FLOAT, INT, STR

_OPERATORS = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
    "in": lambda value, options: value in options,
    "contains": lambda value, part: value is not None and part in value,
}


def _sum(values):
    return sum(values)


def _mean(values):
    return statistics.mean(values) if values else None


AGGREGATES = {
    "sum": _sum,
    "mean": _mean,
    "min": lambda values: min(values) if values else None,
    "max": lambda values: max(values) if values else None,
    "count": len,
    "first": lambda values: values[0] if values else None,
}


class Table:
    """Named columns, a list of rows (lists) and one type name per column."""

    def __init__(self, columns, rows=(), types=None):
        self.columns = list(columns)
        self.rows = [list(row) for row in rows]
        self.types = list(types) if types is not None else [STR] * len(self.columns)
        if len(self.types) != len(self.columns):
            raise ValueError("one type per column is needed")
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError("row %r does not match columns %r" % (row, self.columns))

    # -- basics ---------------------------------------------------------------
    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        for row in self.rows:
            yield dict(zip(self.columns, row))

    def __eq__(self, other):
        if not isinstance(other, Table):
            return NotImplemented
        return (self.columns, self.rows, self.types) == (other.columns, other.rows, other.types)

    def __repr__(self):
        return "Table(columns=%r, rows=%d)" % (self.columns, len(self.rows))

    def _index(self, name):
        try:
            return self.columns.index(name)
        except ValueError:
            raise KeyError("no column %r (have %s)" % (name, ", ".join(self.columns))) from None

    def type_of(self, name):
        return self.types[self._index(name)]

    def column(self, name):
        index = self._index(name)
        return [row[index] for row in self.rows]

    def _derive(self, rows):
        return Table(self.columns, rows, self.types)

    # -- row and column selection -------------------------------------------
    def head(self, n=5):
        return self._derive(self.rows[:n])

    def select(self, *names):
        indexes = [self._index(name) for name in names]
        return Table(names, [[row[i] for i in indexes] for row in self.rows],
                     [self.types[i] for i in indexes])

    def filter(self, predicate=None, **equals):
        """Rows for which ``predicate(row_dict)`` is true and every
        ``column=value`` keyword matches."""
        for name in equals:
            self._index(name)
        keep = []
        for row, record in zip(self.rows, self):
            if predicate is not None and not predicate(record):
                continue
            if any(record[name] != value for name, value in equals.items()):
                continue
            keep.append(row)
        return self._derive(keep)

    def where(self, name, op, value):
        """``table.where("age", ">=", 18)``; rows with a missing value never match
        an ordering comparison."""
        index = self._index(name)
        test = _OPERATORS[op]
        ordering = op in ("<", "<=", ">", ">=")
        return self._derive([row for row in self.rows
                             if not (ordering and row[index] is None) and test(row[index], value)])

    def distinct(self, name):
        seen = []
        for value in self.column(name):
            if value not in seen:
                seen.append(value)
        return seen

    # -- ordering --------------------------------------------------------------
    def sort_by(self, *names, reverse=False):
        """Stable sort on one or more columns; missing values always go last."""
        rows = list(self.rows)
        for name in reversed(names):
            index = self._index(name)
            present = [row for row in rows if row[index] is not None]
            missing = [row for row in rows if row[index] is None]
            present.sort(key=lambda row: row[index], reverse=reverse)
            rows = present + missing
        return self._derive(rows)

    # -- grouping --------------------------------------------------------------
    def group_by(self, name):
        """An ordered dict of key -> Table, in order of first appearance."""
        index = self._index(name)
        groups = {}
        for row in self.rows:
            groups.setdefault(row[index], []).append(row)
        return {key: self._derive(rows) for key, rows in groups.items()}

    def aggregate(self, by, **specs):
        """Group by the column ``by`` and compute one column per keyword:
        ``table.aggregate("city", total=("sales", "sum"), n=("sales", "count"))``.
        Missing values are skipped before aggregating."""
        columns, types = [by], [self.type_of(by)]
        for out_name, (column, func) in specs.items():
            if func not in AGGREGATES:
                raise ValueError("unknown aggregate %r" % (func,))
            columns.append(out_name)
            source_type = self.type_of(column)
            if func == "count":
                types.append(INT)
            elif func == "mean":
                types.append(FLOAT)
            else:
                types.append(source_type)
        rows = []
        for key, group in self.group_by(by).items():
            row = [key]
            for column, func in specs.values():
                values = [v for v in group.column(column) if v is not None]
                row.append(AGGREGATES[func](values))
            rows.append(row)
        return Table(columns, rows, types)

    # -- changing ---------------------------------------------------------------
    def add_column(self, name, func, type=STR):
        """A new table with ``name`` computed as ``func(row_dict)``."""
        if name in self.columns:
            raise ValueError("column %r already exists" % (name,))
        rows = [row + [func(record)] for row, record in zip(self.rows, self)]
        return Table(self.columns + [name], rows, self.types + [type])

    def summary(self, name):
        """count / missing / min / max (and mean for numbers) of a column."""
        values = self.column(name)
        present = [v for v in values if v is not None]
        result = {"count": len(present), "missing": len(values) - len(present),
                  "min": min(present) if present else None,
                  "max": max(present) if present else None}
        if self.type_of(name) in (INT, FLOAT):
            result["mean"] = statistics.mean(present) if present else None
        return result
