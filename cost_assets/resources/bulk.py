"""Moving whole DataFrames in and out of the warehouse.

On PostgreSQL rows are written through COPY (CSV written by Arrow) and read
through COPY (CSV parsed by Arrow), each an order of magnitude faster than one
bound statement per row or pandas.read_sql; elsewhere (SQLite) through
executemany and pandas.read_sql. Column types come from the SQLAlchemy table or
query, so both paths give the same values.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Boolean, Connection, Date, DateTime, Float, Integer, Numeric, Table, cast, select
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import Select
from sqlalchemy.types import String, TypeEngine

from cost_assets.resources.database import guarded



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
    if rows.empty:
        return
    columns = [c for c in table.columns if c.name in rows.columns]
    if _is_postgres(conn):
        try:
            arrays = [pa.array(rows[c.name], type=_arrow_type(c.type), from_pandas=True) for c in columns]
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # values Arrow will not convert exactly (Decimal, dates as text): the driver converts them
            conn.execute(table.insert(), records(rows, table))
            return
        _copy(conn, table, columns, arrays)
        return
    # SQLite: one executemany of tuples (pysqlite's paramstyle is qmark)
    quote = conn.dialect.identifier_preparer.quote
    statement = (f"INSERT INTO {conn.dialect.identifier_preparer.format_table(table)} "
                 f"({', '.join(quote(c.name) for c in columns)}) VALUES ({', '.join('?' * len(columns))})")
    conn.exec_driver_sql(statement, list(zip(*(_driver_values(conn, rows[c.name], c.type) for c in columns))))


def _driver_values(conn: Connection, values: pd.Series, sql_type: TypeEngine) -> list:
    """A column's values as the driver takes them, missing ones as None: converted by the
    column type's own bind processor (what an executemany of dicts would do, row by row),
    floats as they are."""
    if isinstance(sql_type, (Numeric, Float)) and pd.api.types.is_float_dtype(values.dtype):
        array = values.to_numpy(dtype=object)
        array[values.isna().to_numpy()] = None
        return array.tolist()
    processor = sql_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    array = values.astype(object).to_numpy()
    missing = pd.isna(array)
    return [None if absent else (processor(value) if processor else value) for value, absent in zip(array, missing)]


def _copy(conn: Connection, table: Table, columns: list, arrays: list[pa.Array]) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(pa.Table.from_arrays(arrays, names=[c.name for c in columns]), buffer,
                    pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    quote = conn.dialect.identifier_preparer.quote
    statement = (f"COPY {conn.dialect.identifier_preparer.format_table(table)} "
                 f"({', '.join(quote(c.name) for c in columns)}) FROM STDIN WITH (FORMAT csv)")
    with guarded(conn), conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getbuffer())


def read_frame(conn: Connection, query: Executable, categories: tuple[str, ...] = ()) -> pd.DataFrame:
    """The rows of `query`, read on `conn` (so inside its transaction).

    Date columns hold datetime.date values and money columns floats, on both
    databases. On PostgreSQL the rows come through COPY as CSV that Arrow
    parses, with NUMERIC cast to double precision in the query (the
    warehouse's money has 6 decimals); no Python object is made per row
    except the values pandas keeps. The `categories` columns come back as
    pandas categoricals, built from Arrow dictionaries on PostgreSQL: millions
    of rows with few distinct values cost a small integer each.
    """
    if not (_is_postgres(conn) and isinstance(query, Select)):
        return _read_sql(conn, query).astype({name: "category" for name in categories})
    rows = query.subquery()
    floats = select(*(cast(c, Float(53)).label(c.name) if isinstance(c.type, Numeric) and not isinstance(c.type, Float)
                      else c for c in rows.c))
    types = {c.name: _csv_type(c.type) for c in floats.selected_columns}
    if any(t is None for t in types.values()):
        return _read_sql(conn, query)  # a type Arrow would have to guess: the driver converts it
    compiled = floats.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    csv = io.BytesIO()
    with guarded(conn), conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)", compiled.params) as copy:
        for row in copy:  # COPY sends one message per row: gather them before parsing
            csv.write(row)
    if not csv.tell():  # Arrow cannot read an empty CSV
        return pd.DataFrame({name: pd.Series(dtype="category" if name in categories else object) for name in types})
    csv.seek(0)
    table = pacsv.read_csv(
        csv,
        read_options=pacsv.ReadOptions(column_names=list(types), block_size=16 << 20),
        # COPY writes NULL unquoted and an empty string as "": keep them apart.
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                             quoted_strings_can_be_null=False,
                                             true_values=["t"], false_values=["f"]),
    )
    for name in categories:
        table = table.set_column(table.schema.get_field_index(name), name, pc.dictionary_encode(table[name]))
    return table.to_pandas(date_as_object=True)


def _read_sql(conn: Connection, query: Executable) -> pd.DataFrame:
    frame = pd.read_sql(query, conn)
    for column in query.selected_columns if isinstance(query, Select) else []:
        if isinstance(column.type, Date) and not isinstance(column.type, DateTime):
            frame[column.name] = pd.to_datetime(frame[column.name]).dt.date
    return frame


def _csv_type(sql_type: TypeEngine) -> pa.DataType | None:
    """Arrow type to parse a column as, or None where the driver should convert it (timestamps, unknown types)."""
    return _arrow_type(sql_type) if isinstance(sql_type, (Boolean, Date, Integer, Float, String)) else None
