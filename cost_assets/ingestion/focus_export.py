"""Export the `focus_costs` view to a FOCUS 1.2 file, CSV or Parquet; with --allocated, the
`focus_allocated_costs` table (its rows split onto customers, FOCUS 1.3 allocation columns).

    python -m cost_assets.ingestion.focus_export --out focus.parquet [--first 2026-03-01 --last 2026-03-31] [--allocated]

A name ending in `.parquet` writes Parquet with typed columns: text columns
are strings (an all-digit account id stays a string), costs and quantities
doubles, times UTC timestamps, x_IsEstimated a boolean. Anything else is CSV.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sqlalchemy import Connection, text

from cost_assets.resources.focus_costs import NAME as VIEW
from cost_assets.resources.schema import focus_allocated_costs
from cost_assets.resources.warehouse import Warehouse

DATETIME_COLUMNS = ["BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"]
DECIMAL_COLUMNS = [
    "BilledCost", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "ListCost",
    "ListUnitPrice", "PricingQuantity",
]
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


def _day_bounds(dialect: str, first: dt.date | None, last: dt.date | None) -> dict:
    start = dt.datetime.combine(first or dt.date.min, dt.time(), dt.timezone.utc)
    end = dt.datetime.combine((last or dt.date.max - dt.timedelta(days=1)) + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    if dialect == "sqlite":  # the view holds ISO 8601 text there
        start, end = start.strftime(ISO_UTC), end.strftime(ISO_UTC)
    return {"start": start, "end": end}


FOCUS_COSTS_SQL = (f'SELECT * FROM {VIEW} WHERE "ChargePeriodStart" >= :start AND "ChargePeriodStart" < :end '
                   f'ORDER BY "ChargePeriodStart", "SubAccountId", "ServiceName", "ChargeCategory"')


def focus_costs_rows(conn: Connection, first: dt.date | None = None, last: dt.date | None = None) -> pd.DataFrame:
    """The view's rows whose charge day is within first..last (all when not given), read on `conn`."""
    return pd.read_sql(text(FOCUS_COSTS_SQL), conn, params=_day_bounds(conn.dialect.name, first, last))


def read_focus_costs(warehouse: Warehouse, first: dt.date | None = None, last: dt.date | None = None) -> pd.DataFrame:
    """The view's rows whose charge day is within first..last (all when not given)."""
    return warehouse.read(FOCUS_COSTS_SQL, **_day_bounds(warehouse.dialect(), first, last))


def read_focus_allocated_costs(warehouse: Warehouse, first: dt.date | None = None,
                               last: dt.date | None = None) -> pd.DataFrame:
    """focus_allocated_costs rows of first..last (all when not given), without the warehouse's date column."""
    t = focus_allocated_costs
    query = (t.select().where(t.c.date.between(first or dt.date.min, last or dt.date.max))
             .order_by(t.c.date, t.c.x_OriginChargeId, t.c.x_CustomerId.is_(None), t.c.x_CustomerId))
    return warehouse.read(query).drop(columns="date")


def _iso(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_convert("UTC").dt.strftime(ISO_UTC)
    return values


def _json(value):
    return value if value is None or isinstance(value, str) else json.dumps(value, sort_keys=True)


def to_export(view_rows: pd.DataFrame) -> pd.DataFrame:
    """The view's rows as written to a CSV file: ISO 8601 UTC times, decimals as
    decimals, Tags as JSON text."""
    frame = view_rows.copy()
    for column in DATETIME_COLUMNS:
        frame[column] = _iso(frame[column])
    for column in DECIMAL_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).astype(float)  # NUMERIC comes back as Decimal or int
    frame["Tags"] = frame["Tags"].map(_json)
    frame["x_IsEstimated"] = frame["x_IsEstimated"].astype(bool)
    return frame


def to_arrow(export: pd.DataFrame) -> pa.Table:
    """An export frame as an Arrow table: times as UTC timestamps, numbers as
    doubles, x_IsEstimated boolean, every other column a string."""
    arrays = {}
    for column in export.columns:
        values = export[column]
        if column in DATETIME_COLUMNS:
            arrays[column] = pa.array(pd.to_datetime(values, utc=True, format=ISO_UTC), type=pa.timestamp("ms", tz="UTC"))
        elif column in DECIMAL_COLUMNS:
            arrays[column] = pa.array(values, type=pa.float64(), from_pandas=True)
        elif column == "x_IsEstimated":
            arrays[column] = pa.array(values, type=pa.bool_())
        else:
            arrays[column] = pa.array([None if pd.isna(v) else str(v) for v in values], type=pa.string())
    return pa.table(arrays)


def export_focus_costs(warehouse: Warehouse, path: str | Path, first: dt.date | None = None,
                       last: dt.date | None = None, allocated: bool = False) -> int:
    """Write the focus_costs rows of first..last (allocated: the focus_allocated_costs rows) to a
    Parquet file (name ending in .parquet) or a CSV file; returns the row count."""
    rows = read_focus_allocated_costs(warehouse, first, last) if allocated else read_focus_costs(warehouse, first, last)
    frame = to_export(rows)
    if str(path).endswith(".parquet"):
        pq.write_table(to_arrow(frame), path)
    else:
        frame.to_csv(path, index=False)
    return len(frame)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Export the focus_costs view (COST_WAREHOUSE_URL) to a FOCUS 1.2 file, or with --allocated the "
                    "focus_allocated_costs table: Parquet when --out ends in .parquet, else CSV.")
    parser.add_argument("--out", required=True, help="file to write (.parquet for Parquet, otherwise CSV)")
    parser.add_argument("--first", type=dt.date.fromisoformat, help="first UTC day (YYYY-MM-DD)")
    parser.add_argument("--last", type=dt.date.fromisoformat, help="last UTC day (YYYY-MM-DD)")
    parser.add_argument("--allocated", action="store_true",
                        help="write the focus_allocated_costs table instead: each charge split onto its customers "
                             "with the FOCUS 1.3 allocation columns")
    args = parser.parse_args(argv)
    rows = export_focus_costs(Warehouse(), args.out, args.first, args.last, args.allocated)
    print(f"wrote {rows} FOCUS {'allocated ' if args.allocated else ''}rows to {args.out}")


if __name__ == "__main__":
    main()
