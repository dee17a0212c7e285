"""Summing a batch of billing rows in DuckDB: the fast path of billing_files.

A batch whose columns are typed (Parquet timestamps and numbers) is parsed,
amortized, tagged (tags.extract_tags, as on the pandas path) and summed in one
DuckDB query over the Arrow batch. Rows the query cannot vouch for (an empty, non-finite or absurd amount,
a missing timestamp or type, a missing amortization input) come out one per
group with their position, and go through the source's pandas `parse`, which
names why each is rejected, exactly as before. Anything the fast path does not
cover (text timestamps or amounts as in CSV, decimals, unreadable tags) takes
the pandas path for the whole batch.
"""

from __future__ import annotations

import sys

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Python's str.strip() set: trimming in SQL must give what pandas' .str.strip() gives.
PY_WHITESPACE = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
ROW = "__row"  # the batch position column the fast path adds
BATCH = "batch"
BATCH_ROWS = 1_000_000  # Parquet rows per DuckDB query
MAX_AMOUNT = "1e12"  # line_items.MAX_LINE_AMOUNT, as SQL


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # naive Parquet timestamps are UTC, as parse_timestamps reads them
    return con


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def is_text(kind: pa.DataType) -> bool:
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)
            or (pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type)))


def is_number(kind: pa.DataType) -> bool:
    return pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_null(kind)


def is_timestamp(kind: pa.DataType) -> bool:
    return pa.types.is_timestamp(kind) or pa.types.is_null(kind)


def typed_columns(schema: pa.Schema, numbers: tuple[str, ...], timestamps: tuple[str, ...]) -> dict[str, pa.DataType] | None:
    """The batch's column types when the fast path can read them all (numbers as numbers,
    timestamps as timestamps, the rest as text); None when only the pandas path can."""
    types = {field.name: field.type for field in schema}
    for column, kind in types.items():
        if column in numbers and not is_number(kind):
            return None
        if column in timestamps and not is_timestamp(kind):
            return None
        if column not in numbers + timestamps and not column.startswith("__tag_") and not is_text(kind):
            return None
    return types


def amount_ok(expression: str) -> str:
    """SQL: the amount is a number under MAX_LINE_AMOUNT either way (not null, NaN or infinite)."""
    return f"coalesce(abs(CAST({expression} AS DOUBLE)) < {MAX_AMOUNT}, false)"


def trimmed_text(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """A text column as text() reads it: stripped as Python strips, empty as null."""
    if pa.types.is_null(values.type):
        return values.cast(pa.string())

    def trim(array: pa.Array) -> pa.Array:
        stripped = pc.utf8_trim(array, characters=PY_WHITESPACE)
        return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, stripped.type), stripped)

    if pa.types.is_dictionary(values.type):
        return pa.chunked_array(
            [pa.DictionaryArray.from_arrays(chunk.indices, trim(chunk.dictionary)) for chunk in values.chunks],
            type=pa.dictionary(values.type.index_type, values.type.value_type))
    return pa.chunked_array([trim(chunk) for chunk in values.chunks], type=values.type)


def tag_columns(tags) -> dict[str, pa.Array]:
    """tags.extract_tags' categorical columns as Arrow dictionary columns named `tag_<column>`."""
    return {f"__tag_{column}": pa.array(tags[column].array) for column in tags.columns if column != "tag_error"}


def arrow_table(con: duckdb.DuckDBPyConnection, query: str) -> pa.Table:
    """The query's result as one Arrow table (DuckDB 2 names it to_arrow_table, 1.x fetch_arrow_table)."""
    relation = con.sql(query)
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()


def line_item_hashes(con: duckdb.DuckDBPyConnection, ids: pa.Array, intervals: pa.Array) -> np.ndarray:
    """Hashes of (line item id, time interval): the same in both paths, so files compare whatever their format."""
    pairs = pa.table({"id": ids.cast(pa.string()), "interval": intervals.cast(pa.string())})
    con.register("pairs", pairs)
    try:
        return con.execute("SELECT hash(id, interval) AS h FROM pairs").fetchnumpy()["h"]
    finally:
        con.unregister("pairs")


def digest(frame: pd.DataFrame) -> int:
    """An order-free digest of a frame's rows (pandas' row hashes, xor-ed)."""
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return int(np.bitwise_xor.reduce(hashes)) if len(hashes) else 0
