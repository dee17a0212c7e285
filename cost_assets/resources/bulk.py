"""Moving whole DataFrames in and out of the warehouse.

On PostgreSQL rows are written through COPY (CSV written by Arrow) and read
through a binary cursor, each an order of magnitude faster than one bound
statement per row or pandas.read_sql; elsewhere (SQLite) through executemany
and pandas.read_sql. Column types come from the SQLAlchemy table or query, so
both paths give the same values.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Boolean, Connection, Date, DateTime, Float, Integer, Numeric, Table, cast, select
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import Select
from sqlalchemy.types import TypeEngine


READ_BATCH_ROWS = 500_000


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _arrow_type(sql_type: TypeEngine) -> pa.DataType:
    if isinstance(sql_type, Boolean):
        return pa.bool_()
    if isinstance(sql_type, DateTime):
        return pa.timestamp("us")
    if isinstance(sql_type, Date):
        return pa.date32()
    if isinstance(sql_type, Integer):
        return pa.int64()
    if isinstance(sql_type, (Numeric, Float)):
        return pa.float64()
    return pa.string()


def records(frame: pd.DataFrame, table: Table) -> list[dict]:
    """The frame's rows as dicts of the table's columns, missing values as None."""
    columns = [c.name for c in table.columns if c.name in frame.columns]
    subset = frame[columns].astype(object)
    return subset.where(subset.notna(), None).to_dict("records")


def insert_rows(conn: Connection, table: Table, rows: pd.DataFrame) -> None:
    """Insert `rows` (the columns `table` has) inside `conn`'s transaction.

    On PostgreSQL, rows already in primary-key order load fastest.
    """
    columns = [c for c in table.columns if c.name in rows.columns]
    if _is_postgres(conn):
        try:
            arrays = [pa.array(rows[c.name], type=_arrow_type(c.type), from_pandas=True) for c in columns]
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays = None  # values Arrow will not convert exactly (Decimal, dates as text): the driver converts them
        if arrays is not None:
            _copy(conn, table, columns, arrays)
            return
    conn.execute(table.insert(), records(rows, table))


def _copy(conn: Connection, table: Table, columns: list, arrays: list[pa.Array]) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(pa.Table.from_arrays(arrays, names=[c.name for c in columns]), buffer,
                    pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    quote = conn.dialect.identifier_preparer.quote
    statement = (f"COPY {conn.dialect.identifier_preparer.format_table(table)} "
                 f"({', '.join(quote(c.name) for c in columns)}) FROM STDIN WITH (FORMAT csv)")
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getbuffer())


def read_frame(conn: Connection, query: Executable) -> pd.DataFrame:
    """The rows of `query`, read on `conn` (so inside its transaction).

    Date columns hold datetime.date values and money columns floats, on both
    databases. On PostgreSQL the rows come through a binary cursor in batches,
    with NUMERIC cast to double precision in the query (far cheaper to decode
    than Decimal, and the warehouse's money has 6 decimals).
    """
    if not (_is_postgres(conn) and isinstance(query, Select)):
        frame = pd.read_sql(query, conn)
        for column in query.selected_columns if isinstance(query, Select) else []:
            if isinstance(column.type, Date) and not isinstance(column.type, DateTime):
                frame[column.name] = pd.to_datetime(frame[column.name]).dt.date
        return frame
    rows = query.subquery()
    floats = select(*(cast(c, Float(53)).label(c.name) if isinstance(c.type, Numeric) and not isinstance(c.type, Float)
                      else c for c in rows.c))
    compiled = floats.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    names = [c.name for c in rows.c]
    batches = []
    with conn.connection.driver_connection.cursor(binary=True) as cursor:
        cursor.execute(str(compiled), compiled.params)
        while batch := cursor.fetchmany(READ_BATCH_ROWS):
            batches.append(pd.DataFrame(batch, columns=names))
    if not batches:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    return pd.concat(batches, ignore_index=True) if len(batches) > 1 else batches[0]
