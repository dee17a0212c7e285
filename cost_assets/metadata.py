"""Dagster materialization metadata built from DataFrames."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

_TYPES = {"i": "int", "u": "int", "f": "float", "b": "bool"}


def _plain(value):
    if pd.isna(value):
        return None
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def table(frame: pd.DataFrame, limit: int = 20) -> MetadataValue:
    """A table the Dagster UI renders, from the first `limit` rows."""
    head = frame.head(limit)
    schema = TableSchema(
        columns=[TableColumn(name=str(c), type=_TYPES.get(head[c].dtype.kind, "string")) for c in head.columns]
    )
    records = [
        TableRecord({str(c): _plain(v) for c, v in row.items()}) for row in head.to_dict("records")
    ]
    return MetadataValue.table(records=records, schema=schema)


def money(value: float) -> MetadataValue:
    return MetadataValue.float(round(float(value), 2))
