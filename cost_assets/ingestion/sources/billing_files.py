"""What the `focus` and `cur2` sources share: reading billing files into line items.

A source is a file layout (required and optional columns, tag column) plus a
pure `parse(raw, tags)` that turns one batch of raw rows into line items and
says, per row, why it cannot be used. This module reads each file once per run,
batch by batch, keeps the rows whose charge starts inside the window, sets the
unusable ones aside as rejected rows, and sums rows that differ only in their
amounts, so a month of resource-level rows never has to sit in memory at once.

Typed Parquet batches are parsed and summed in DuckDB (scan.py, the source's
fast_columns); the rows it cannot vouch for, and every batch of text (CSV),
go through the source's parse() in pandas, which names each rejected row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cost_assets.ingestion.line_items import (
    LINE_ITEM_COLUMNS,
    MAX_LINE_AMOUNT_TEXT,
    MEASURE_COLUMNS,
    MONEY_COLUMNS,
    TAG_COLUMNS,
    TAG_DIMENSION,
    TEXT_WIDTHS,
    BadCostDataError,
    empty_line_items,
    normalize_tags,
    out_of_range,
    too_wide,
)
from cost_assets.ingestion import container_splits
from cost_assets.ingestion.container_splits import SPLIT_LINE_ITEM_COLUMNS, SPLIT_PARENT
from cost_assets.ingestion.rejected import REJECTED_COLUMNS, UNDATED, empty_rejected
from cost_assets.ingestion.sources import scan
from cost_assets.ingestion.sources.base import SourceResult
from cost_assets.ingestion.sources.files import (
    BillingFile,
    file_columns,
    list_billing_files,
    month_after,
    prefetched,
    read_batches,
    s3_client,
)
from cost_assets.ingestion.sources.tags import TAG_ERROR, extract_tags, no_tags
from cost_assets.rules import Rules
from cost_assets.settings import SettingError, env

# Columns a format's parse() adds to the line-item columns.
REASON = "reason"  # why the row cannot be used, None when it can
BILLING_ACCOUNT = "billing_account"
BILLING_PERIOD_START = "billing_period_start"
CURRENCY = "currency"
# Optional: whether the provider calls the row's billing period final (CUR 2.0: invoiced).
PERIOD_FINAL = "period_final"
# Optional: the provider's line item id and its time interval (CUR 2.0 identity_*).
LINE_ITEM_ID = "line_item_id"
LINE_ITEM_INTERVAL = "line_item_interval"

WAREHOUSE_CURRENCY = "USD"  # docs/reference.md#warehouse-tables: all money is USD
HOURLY = pd.Timedelta(hours=1)
GROUP_KEYS = [c for c in LINE_ITEM_COLUMNS if c not in MEASURE_COLUMNS]
# Rows the pandas path parses at a time; the DuckDB path takes whole read batches.
PANDAS_BATCH_ROWS = 250_000


def join_reasons(*reasons: pd.Series) -> pd.Series:
    """Per row, the reasons that are set, joined with '; ' (None when none is)."""
    joined = pd.Series(None, index=reasons[0].index, dtype=object)
    for reason in reasons:
        has = reason.notna()
        if not has.any():
            continue
        both = has & joined.notna()
        joined[both] = joined[both] + "; " + reason[both]
        only = has & ~both
        joined[only] = reason[only]
    return joined


def raw_column(raw: pd.DataFrame, column: str) -> pd.Series:
    """An optional column as read, or all None when the file lacks it."""
    return raw[column] if column in raw else pd.Series(None, index=raw.index, dtype=object)


def _per_category(values: pd.Series, convert) -> pd.Series:
    """convert() applied to each distinct value of a categorical column only."""
    converted = convert(pd.Series(values.cat.categories.to_numpy(dtype=object)))
    source = converted.array if isinstance(converted.dtype, pd.api.extensions.ExtensionDtype) else converted.to_numpy()
    taken = pd.api.extensions.take(source, values.cat.codes.to_numpy(), allow_fill=True)
    return pd.Series(taken, index=values.index)


def _is_categorical(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype)


def _trim(values: pd.Series) -> pd.Series:
    values = values.astype(object)
    stripped = values.where(values.isna(), values.astype(str).str.strip())
    return stripped.where(stripped != "", None)


def text(raw: pd.DataFrame, column: str) -> pd.Series:
    """An optional text column as a categorical, trimmed; empty or missing values are NaN."""
    values = raw_column(raw, column)
    if not _is_categorical(values):
        values = values.astype("category")
    codes = values.cat.codes.to_numpy()
    if len(values.cat.categories) == 0:
        return pd.Series(pd.Categorical.from_codes(np.full(len(values), -1), categories=[]), index=values.index)
    # Trimming can make two categories equal: renumber them.
    renumbered, categories = pd.factorize(_trim(pd.Series(values.cat.categories.to_numpy(dtype=object))))
    codes = np.where(codes < 0, -1, renumbered[codes])
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=values.index)


def first_present(preferred: pd.Series, fallback: pd.Series) -> pd.Series:
    """`preferred`, or `fallback` where it is missing (categoricals from text())."""
    categories = preferred.cat.categories.union(fallback.cat.categories)
    preferred, fallback = preferred.cat.set_categories(categories), fallback.cat.set_categories(categories)
    return preferred.where(preferred.notna(), fallback)


def set_where(values: pd.Series, mask, value: str) -> pd.Series:
    """`values` with `value` on the rows of `mask` (categorical or not)."""
    if _is_categorical(values) and value not in values.cat.categories:
        values = values.cat.add_categories([value])
    return values.mask(mask, value)


def _timestamps(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


def parse_timestamps(values: pd.Series) -> pd.Series:
    """UTC timestamps from typed Parquet values or ISO 8601 text; NaT when unparseable."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    if _is_categorical(values):
        return _per_category(values, _timestamps)
    return _timestamps(values)


def parse_amounts(values: pd.Series, column: str) -> tuple[pd.Series, pd.Series]:
    """A money column: the amounts, and per row why there is none: empty, not a
    number, or not a finite amount under MAX_LINE_AMOUNT (inf, 1e300: never taken
    as a number, nor as 0; the row is rejected and its cost is unknown)."""
    numbers = parse_numbers(values)
    absurd = out_of_range(numbers)
    reasons = unparseable(values, numbers, column, "a number")
    if absurd.any():
        reasons[absurd] = [f"{column} {value!r} is not a finite amount under {MAX_LINE_AMOUNT_TEXT} USD"
                           for value in values[absurd]]
    return numbers.mask(absurd), reasons


def parse_quantities(values: pd.Series) -> pd.Series:
    """A usage amount: a finite number, NaN when missing or not one."""
    numbers = parse_numbers(values)
    return numbers.where(np.isfinite(numbers))


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype(float)


def parse_numbers(values: pd.Series) -> pd.Series:
    if _is_categorical(values):
        return _per_category(values, _numbers)
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    return _numbers(values)


def categorized(table: pa.Table) -> pd.DataFrame:
    """The table as a DataFrame whose text columns are categorical: billing
    text repeats, so each distinct value is converted and parsed once."""
    columns = [
        pc.dictionary_encode(column) if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) else column
        for column in table.columns
    ]
    return pa.table(columns, names=table.column_names).to_pandas()


def unparseable(values: pd.Series, parsed: pd.Series, column: str, what: str, required: bool = True) -> pd.Series:
    """Per row, why `values` (raw) did not give `parsed`: empty (when required) or not `what`."""
    reasons = pd.Series(None, index=values.index, dtype=object)
    garbled = values.notna() & parsed.isna()
    if garbled.any():
        reasons[garbled] = [f"{column} {value!r} is not {what}" for value in values[garbled]]
    if required and values.isna().any():
        reasons[values.isna()] = f"{column} is empty"
    return reasons


@dataclass
class _Collected:
    items: list[pd.DataFrame] = field(default_factory=list)
    totals: list[pd.DataFrame] = field(default_factory=list)
    rejected: list[pd.DataFrame] = field(default_factory=list)
    currencies: dict[str, str] = field(default_factory=dict)  # currency -> first file
    deliveries: dict[tuple, set[str]] = field(default_factory=lambda: defaultdict(set))
    fingerprints: dict[str, int] = field(default_factory=dict)  # file -> digest of its rows (add_fingerprint)
    file_rows: Counter = field(default_factory=Counter)
    line_item_ids: dict[str, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))  # file -> id hashes
    final_periods: dict[dt.date, bool] = field(default_factory=dict)  # billing period -> every row final
    con: duckdb.DuckDBPyConnection = field(default_factory=scan.connect)
    rows_read: int = 0
    rows_in_window: int = 0
    held_first: dt.date | None = None  # first and last UTC day the files hold, inside the window or not
    held_last: dt.date | None = None
    split_parents: list[pd.DataFrame] = field(default_factory=list)  # container_splits.parts, per batch
    split_pods: list[pd.DataFrame] = field(default_factory=list)

    def add_split_parts(self, items: pd.DataFrame) -> None:
        parents, pods = container_splits.parts(items)
        if not parents.empty:
            self.split_parents.append(parents)
        if not pods.empty:
            self.split_pods.append(pods)

    def container_parts(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        if not self.split_pods:
            return None
        parents = (pd.concat(self.split_parents, ignore_index=True) if self.split_parents
                   else container_splits.empty_parents())
        return parents, pd.concat(self.split_pods, ignore_index=True)

    def add_fingerprint(self, uri: str, digest: int) -> None:
        """Fold one part's digest into the file's, in reading order (parts never cancel out)."""
        self.fingerprints[uri] = (self.fingerprints.get(uri, 0) * 1_000_003 + digest) % (1 << 64)

    def hold(self, first: dt.date, last: dt.date) -> None:
        self.held_first = first if self.held_first is None else min(self.held_first, first)
        self.held_last = last if self.held_last is None else max(self.held_last, last)


class BillingFileSource:
    """Base of the `focus` and `cur2` sources (see the module docstring)."""

    name: str
    required_columns: tuple[str, ...]
    optional_columns: tuple[str, ...] = ()
    tags_column: str
    start_column: str
    # Warehouse column -> the file's column, to name it in a rejected row's reason.
    source_columns: dict[str, str] = {}
    # Text columns whose values repeat: read from Parquet dictionary-encoded (as is the tag column).
    dictionary_columns: tuple[str, ...] = ()
    # The resource id (kept on hourly rows only) and the provider's line item id columns:
    # not what the DuckDB path groups rows by.
    resource_column: str = ""
    line_item_id_columns: tuple[str, ...] = ()

    def __init__(self, uri: str):
        self.uri = uri

    @classmethod
    def from_settings(cls):
        uri = env("COST_SOURCE_URI")
        if not uri:
            raise SettingError(
                f"COST_SOURCE={cls.name} needs COST_SOURCE_URI: a local file, folder or glob, or s3://bucket/prefix"
            )
        return cls(uri)

    def fast_columns(self, schema: pa.Schema) -> dict[str, str] | None:
        """SQL per parse() column, plus `dirty` for rows parse() must look at (scan.py);
        None: this batch is parsed in pandas only."""
        return None

    def parse(self, raw: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
        """Line-item columns (row_ref aside) plus REASON, BILLING_ACCOUNT,
        BILLING_PERIOD_START and CURRENCY, and where the format has them
        PERIOD_FINAL, LINE_ITEM_ID and LINE_ITEM_INTERVAL, one row per raw row."""
        raise NotImplementedError

    # --- the run -------------------------------------------------------------

    def fetch(self, first: dt.date, last: dt.date, rules: Rules) -> SourceResult:
        start = pd.Timestamp(first, tz="UTC")
        end = pd.Timestamp(last + dt.timedelta(days=1), tz="UTC")
        files = list_billing_files(self.uri)
        # A BILLING_PERIOD=YYYY-MM folder outside the window need not be read.
        wanted = [f for f in files if f.billing_period is None
                  or (f.billing_period <= last and month_after(f.billing_period) > first)]
        client = s3_client() if any(f.is_s3 for f in wanted) else None
        collected = _Collected()
        for skipped in files:
            if skipped not in wanted:  # its days are those of its billing period, unread
                collected.hold(skipped.billing_period, month_after(skipped.billing_period) - dt.timedelta(days=1))
        try:
            for file in wanted:
                self._read_file(file, client, rules, start, end, collected)
        finally:
            collected.con.close()
        self._check_currencies(collected)
        self._check_deliveries(collected)

        items = compact(pd.concat(collected.items, ignore_index=True)) if collected.items else empty_line_items()
        totals = (
            pd.concat(collected.totals).groupby("date", as_index=False)[MONEY_COLUMNS].sum()
            if collected.totals else pd.DataFrame({"date": [], "billed_cost": [], "effective_cost": []})
        )
        rejected = pd.concat(collected.rejected, ignore_index=True) if collected.rejected else empty_rejected()
        final = {period for period, is_final in collected.final_periods.items() if is_final}
        return SourceResult(
            line_items=items,
            day_totals=totals,
            rejected_rows=rejected,
            held_days=(collected.held_first, collected.held_last) if collected.held_first else None,
            container_parts=collected.container_parts(),
            complete_days={day for day in pd.date_range(first, last).date if day.replace(day=1) in final},
            metadata={
                "source_uri": self.uri,
                "files_read": len(wanted),
                "files_outside_window": len(files) - len(wanted),
                "rows_read": collected.rows_read,
                "rows_in_window": collected.rows_in_window,
                "billing_periods": ", ".join(sorted({f"{k[2]:%Y-%m}" for k in collected.deliveries})) or "none",
            },
        )

    def _read_file(self, file: BillingFile, client, rules: Rules, start, end, collected: _Collected) -> None:
        present = set(file_columns(file, client))
        missing = [c for c in self.required_columns if c not in present]
        if missing:
            raise BadCostDataError(f"{file.uri} lacks the required column(s) {', '.join(missing)} for COST_SOURCE={self.name}")
        columns = [c for c in (*self.required_columns, *self.optional_columns) if c in present]

        def outside_window(statistics: dict) -> bool:
            low, high = statistics.get(self.start_column, (None, None))
            if not isinstance(low, dt.datetime) or not isinstance(high, dt.datetime):
                return False
            low, high = (pd.Timestamp(v).tz_localize("UTC") if v.tzinfo is None else pd.Timestamp(v) for v in (low, high))
            skip = high < start or low >= end
            if skip:
                collected.hold(low.tz_convert("UTC").date(), high.tz_convert("UTC").date())
            return skip

        batches = read_batches(file, columns, client, skip_row_group=outside_window, batch_rows=scan.BATCH_ROWS,
                               dictionary_columns=(self.tags_column, *self.dictionary_columns))
        for first_row, batch in prefetched(batches):
            self._collect_batch(file, first_row, batch, rules, start, end, collected)

    def _collect_batch(self, file: BillingFile, first_row: int, batch: pa.Table, rules: Rules, start, end,
                       collected: _Collected) -> None:
        rows = batch.num_rows
        collected.rows_read += rows
        collected.file_rows[file.uri] += rows
        if self.tags_column in batch.column_names:
            tags = extract_tags(batch.column(self.tags_column), rules, self.tags_column, file.uri)
            untagged = batch.drop_columns([self.tags_column])
        else:
            tags, untagged = no_tags(rows), batch
        dirty = self._collect_fast(file, untagged, tags, rules, start, end, collected) if rows else None
        if dirty is None:  # the whole batch takes the pandas path, a slice at a time
            for offset in range(0, rows, PANDAS_BATCH_ROWS):
                part = batch.slice(offset, PANDAS_BATCH_ROWS)
                self._collect_parsed(file, first_row + offset + np.arange(part.num_rows), part,
                                     tags.iloc[offset:offset + PANDAS_BATCH_ROWS].reset_index(drop=True),
                                     rules, start, end, collected)
        elif len(dirty):
            self._collect_parsed(file, first_row + dirty, batch.take(pa.array(dirty)),
                                 tags.iloc[dirty].reset_index(drop=True), rules, start, end, collected)

    def _collect_fast(self, file: BillingFile, batch: pa.Table, tags: pd.DataFrame, rules: Rules, start, end,
                      collected: _Collected) -> np.ndarray | None:
        """Sum the batch's rows in DuckDB (scan.py); returns the positions of the rows
        the pandas path must parse, or None when it must parse the whole batch."""
        if tags[TAG_ERROR].notna().any():
            return None
        texts = {name: scan.trimmed_text(batch.column(name)) for name in batch.column_names
                 if scan.is_text(batch.schema.field(name).type)}
        table = pa.table({**{name: texts.get(name, batch.column(name)) for name in batch.column_names},
                          **scan.tag_columns(tags)})
        columns = self.fast_columns(table.schema)
        if columns is None:
            return None
        table = table.append_column(scan.ROW, pa.array(np.arange(batch.num_rows, dtype=np.int64)))
        # Rows are grouped by what every key column is computed from, as integers where the
        # text is dictionary-encoded (much faster to hash); each group's keys are then one value.
        sources = []
        for name in table.column_names:
            kind = table.schema.field(name).type
            if name in (scan.ROW, self.resource_column, *self.line_item_id_columns) or not scan.is_text(kind):
                continue  # timestamps: their key columns are grouped by directly
            column = table.column(name)
            if pa.types.is_dictionary(kind) and column.num_chunks == 1:
                table = table.append_column(f"__code_{name}", column.chunk(0).indices)
                sources.append(scan.ident(f"__code_{name}"))
            else:
                sources.append(scan.ident(name))
        resource_key = "NULL"  # the resource id: a key on hourly rows only
        if self.resource_column in table.column_names:
            column = table.column(self.resource_column)
            resource_key = scan.ident(self.resource_column)
            if pa.types.is_dictionary(column.type) and column.num_chunks == 1:
                table = table.append_column("__code_resource", column.chunk(0).indices)
                resource_key = '"__code_resource"'
        per_row = ", ".join(f"{expression} AS {scan.ident(name)}" for name, expression in columns.items())
        # Epoch arithmetic: TIMESTAMPTZ arithmetic goes through ICU's calendar, row by row.
        window = (f"epoch_us(charge_period_start) >= {start.value // 1000} "
                  f"AND epoch_us(charge_period_start) < {end.value // 1000}")
        hourly = f"epoch_us(charge_period_end) - epoch_us(charge_period_start) <= {HOURLY.value // 1000}"
        keys = [c for c in columns if c not in (*MEASURE_COLUMNS, "resource_id", LINE_ITEM_ID, LINE_ITEM_INTERVAL, "dirty",
                                                *SPLIT_LINE_ITEM_COLUMNS)]
        times = ["charge_period_start", "charge_period_end", BILLING_PERIOD_START]
        # A key that is a dictionary column as read comes out as its code (no per-row string work),
        # a constant as itself; any other is the group's one value.
        coded = {k: columns[k].strip('"') for k in keys
                 if columns[k].startswith('"') and f"__code_{columns[k].strip(chr(34))}" in table.column_names}

        def selected(key: str) -> str:
            if key in times:
                return scan.ident(key)
            if key in coded:
                return f"{scan.ident('__code_' + coded[key])} AS {scan.ident(key)}"
            if columns[key].startswith("'") or columns[key].startswith("CAST(NULL") or columns[key] in ("false", "true"):
                return f"{columns[key]} AS {scan.ident(key)}"
            return f"any_value({scan.ident(key)}) AS {scan.ident(key)}"
        query = f"""
            WITH row AS (SELECT {per_row}, {', '.join([*sources, resource_key + ' AS __resource_key', scan.ROW])}
                         FROM {scan.BATCH})
            SELECT {', '.join(selected(k) for k in keys)},
                   any_value(CASE WHEN {hourly} THEN resource_id ELSE '' END) AS resource_id,
                   CASE WHEN dirty THEN {scan.ROW} END AS dirty_row,
                   coalesce({window}, false) AS in_window,
                   sum(billed_cost) AS billed_cost, sum(effective_cost) AS effective_cost,
                   sum(usage_quantity) AS usage_quantity, count(*) AS line_items,
                   list(hash({LINE_ITEM_ID}, {LINE_ITEM_INTERVAL}))
                       FILTER (WHERE {LINE_ITEM_ID} IS NOT NULL AND NOT dirty AND {window}) AS line_item_hashes
            FROM row
            GROUP BY {', '.join([*sources, *(scan.ident(t) for t in times)])}, CASE WHEN {hourly} THEN __resource_key END,
                     CASE WHEN dirty THEN {scan.ROW} END, coalesce({window}, false)"""
        collected.con.register(scan.BATCH, table)
        try:
            summed = scan.arrow_table(collected.con, query)
            split_rows = (scan.arrow_table(collected.con, _split_query(columns, per_row, window)).to_pandas()
                          if SPLIT_PARENT in columns else None)
        except duckdb.Error:  # e.g. a map with a repeated key: the pandas path reads it as before
            return None
        finally:
            collected.con.unregister(scan.BATCH)
        hashes = summed.column("line_item_hashes")
        for key, column in coded.items():
            dictionary = table.column(column).chunk(0).dictionary
            summed = summed.set_column(summed.column_names.index(key), key, dictionary.take(summed.column(key)))
        groups = summed.drop_columns(["line_item_hashes"]).to_pandas()
        # fast_columns gives the period's start (a cast to DATE would go through ICU row by row)
        groups[BILLING_PERIOD_START] = pd.to_datetime(groups[BILLING_PERIOD_START], utc=True).dt.tz_convert(None).dt.date
        is_dirty = groups["dirty_row"].notna().to_numpy()
        dirty = np.sort(groups.loc[is_dirty, "dirty_row"].to_numpy(dtype=np.int64))
        clean = groups[~is_dirty].reset_index(drop=True)
        if clean.empty:
            return dirty
        if self._too_wide(clean, rules).notna().any():  # the pandas path names each row
            return None
        # Identical files give identical groups: a copy is found without a second read.
        collected.add_fingerprint(file.uri, scan.digest(clean.drop(columns=["dirty_row"])))

        for currency in clean[CURRENCY].dropna().unique():
            collected.currencies.setdefault(str(currency), file.uri)
        periods = (pd.Series(file.billing_period, index=clean.index) if file.billing_period is not None
                   else clean[BILLING_PERIOD_START])
        deliveries = pd.DataFrame({"provider": clean["provider"], "account": clean[BILLING_ACCOUNT], "period": periods})
        for provider, account, period in deliveries.dropna(subset=["period"]).drop_duplicates().itertuples(index=False):
            key = (None if pd.isna(provider) else provider, None if pd.isna(account) else account, period)
            collected.deliveries[key].add(file.folder)
        for period, is_final in clean[PERIOD_FINAL].groupby(periods).all().items():
            collected.final_periods[period] = collected.final_periods.get(period, True) and bool(is_final)
        collected.hold(clean["charge_period_start"].min().date(), clean["charge_period_start"].max().date())

        good = clean["in_window"].to_numpy()
        collected.rows_in_window += int(clean.loc[good, "line_items"].sum())
        flat = pc.list_flatten(hashes)  # hashes of the window's clean rows with an id (NULL on other groups)
        if len(flat):
            collected.line_item_ids[file.uri].append(flat.to_numpy())
        if good.any():
            items = clean.loc[good, [c for c in LINE_ITEM_COLUMNS if c != "row_ref"]]
            items["row_ref"] = pd.Categorical.from_codes(np.zeros(len(items), dtype=np.int8), categories=[file.uri])
            days = items["charge_period_start"].dt.tz_convert(None).dt.normalize().rename("date")
            totals = items.groupby(days)[MONEY_COLUMNS].sum().reset_index()
            totals["date"] = totals["date"].dt.date
            collected.totals.append(totals)
            collected.items.append(items)
        if split_rows is not None and not split_rows.empty:
            collected.add_split_parts(split_rows)
        return dirty

    def _collect_parsed(self, file: BillingFile, row_numbers: np.ndarray, batch: pa.Table, tags: pd.DataFrame,
                        rules: Rules, start, end, collected: _Collected) -> None:
        """The pandas path: parse() names why each unusable row is rejected. `tags`
        holds the values of the batch's tag column (tags.extract_tags)."""
        raw = categorized(batch.drop_columns([self.tags_column]) if self.tags_column in batch.column_names else batch)
        parsed = self.parse(raw, tags)
        parsed[REASON] = join_reasons(parsed[REASON], tags[TAG_ERROR], self._too_wide(parsed, rules))
        if len(parsed):
            collected.add_fingerprint(file.uri, scan.digest(parsed.assign(row_number=row_numbers)))
        for currency in parsed[CURRENCY].dropna().unique():
            collected.currencies.setdefault(str(currency), file.uri)
        if file.billing_period is not None:  # the BILLING_PERIOD=YYYY-MM folder says it for every row
            periods = pd.Series(file.billing_period, index=parsed.index)
        else:
            periods = parsed[BILLING_PERIOD_START].dt.tz_convert(None).dt.date
        deliveries = pd.DataFrame({"provider": parsed["provider"], "account": parsed[BILLING_ACCOUNT], "period": periods})
        for provider, account, period in deliveries.dropna(subset=["period"]).drop_duplicates().itertuples(index=False):
            key = (None if pd.isna(provider) else provider, None if pd.isna(account) else account, period)
            collected.deliveries[key].add(file.folder)
        final = parsed[PERIOD_FINAL] if PERIOD_FINAL in parsed else pd.Series(False, index=parsed.index)
        for period, is_final in final.groupby(periods).all().items():
            collected.final_periods[period] = collected.final_periods.get(period, True) and bool(is_final)

        charge_start = parsed["charge_period_start"]
        if charge_start.notna().any():
            collected.hold(charge_start.min().date(), charge_start.max().date())
        in_window = (charge_start >= start) & (charge_start < end)
        bad = parsed[REASON].notna()
        good = ~bad & in_window
        collected.rows_in_window += int(good.sum())
        if LINE_ITEM_ID in parsed:
            ids = parsed.loc[good & parsed[LINE_ITEM_ID].notna(), [LINE_ITEM_ID, LINE_ITEM_INTERVAL]]
            if not ids.empty:
                collected.line_item_ids[file.uri].append(scan.line_item_hashes(
                    collected.con, *(pa.array(ids[c].astype(object), type=pa.string(), from_pandas=True) for c in (LINE_ITEM_ID, LINE_ITEM_INTERVAL))))
        if good.any():
            items = parsed.loc[good, [c for c in LINE_ITEM_COLUMNS if c != "row_ref"]]
            items["row_ref"] = pd.Categorical.from_codes(np.zeros(len(items), dtype=np.int8), categories=[file.uri])
            days = items["charge_period_start"].dt.tz_convert(None).dt.normalize().rename("date")
            totals = items.groupby(days)[MONEY_COLUMNS].sum().reset_index()
            totals["date"] = totals["date"].dt.date
            collected.totals.append(totals)
            collected.items.append(compact(items))
            if SPLIT_PARENT in parsed:
                collected.add_split_parts(parsed.loc[good])
        if bad.any():
            rejected = rejected_rows(self.name, file, row_numbers, batch, parsed, bad, periods, start, end)
            if not rejected.empty:
                collected.rejected.append(rejected)

    def _too_wide(self, parsed: pd.DataFrame, rules: Rules) -> pd.Series:
        """Per row, which text values the warehouse cannot hold (tags as normalized;
        resource ids only on the hourly rows that keep them), else None."""
        hourly = (parsed["charge_period_end"] - parsed["charge_period_start"]) <= HOURLY
        reasons = [pd.Series(None, index=parsed.index, dtype=object)]
        for column, width in TEXT_WIDTHS.items():
            values = parsed[column]
            if column == "resource_id":
                values = values.astype(object).where(hourly.to_numpy(), None)
            lengths = too_wide(values, column)
            if column in TAG_COLUMNS and lengths.any():  # e.g. padding that trimming removes
                lengths[lengths > 0] = too_wide(normalize_tags(values[lengths > 0], column, rules), column)
            if not lengths.any():
                continue
            name = f"{self.tags_column} {TAG_DIMENSION[column]}" if column in TAG_COLUMNS else self.source_columns.get(column, column)
            reason = pd.Series(None, index=parsed.index, dtype=object)
            reason[lengths > 0] = [f"{name} is {n} characters long; the warehouse holds at most {width}"
                                   for n in lengths[lengths > 0]]
            reasons.append(reason)
        return join_reasons(*reasons)

    # --- whole-run checks ----------------------------------------------------

    def _check_currencies(self, collected: _Collected) -> None:
        found = collected.currencies
        if len(found) > 1:
            listing = ", ".join(f"{currency} (first in {uri})" for currency, uri in sorted(found.items()))
            raise BadCostDataError(f"billing files under {self.uri} mix currencies: {listing}; the warehouse holds one currency, {WAREHOUSE_CURRENCY}")
        for currency, uri in found.items():
            if currency != WAREHOUSE_CURRENCY:
                raise BadCostDataError(f"{uri} is billed in {currency}; the warehouse holds {WAREHOUSE_CURRENCY} only (docs/reference.md#billing-files)")

    def _check_deliveries(self, collected: _Collected) -> None:
        """Refuse two deliveries (folders) of one billing period, and the same rows delivered twice
        in any folders: identical files, or files sharing line item ids."""
        copies = duplicate_files(collected.fingerprints, collected.file_rows) + shared_line_items(collected.line_item_ids)
        also = f" ({'; '.join(copies)})" if copies else ""
        for (provider, account, period), folders in sorted(collected.deliveries.items(), key=lambda kv: str(kv[0])):
            if len(folders) > 1:
                who = " ".join(str(p) for p in (provider, account) if p) or "one billing account"
                raise BadCostDataError(
                    f"billing period {period:%Y-%m} of {who} comes from {len(folders)} overlapping deliveries: "
                    f"{', '.join(sorted(folders))}; keep one of them (e.g. the latest) under COST_SOURCE_URI{also}"
                )
        if copies:
            raise BadCostDataError(
                f"the same billing rows are delivered twice under {self.uri}: {'; '.join(copies)}; every cost would "
                f"count twice: keep one copy under COST_SOURCE_URI"
            )


def _listing(uris: list[str]) -> str:
    return " and ".join(uris) if len(uris) < 3 else f"{', '.join(uris[:-1])} and {uris[-1]}"


def duplicate_files(fingerprints: dict, rows: Counter) -> list[str]:
    """Files whose rows are identical, named together (files without rows are never duplicates)."""
    by_digest = defaultdict(list)
    for uri, digest in fingerprints.items():
        by_digest[digest].append(uri)
    return [f"{_listing(sorted(uris))} hold the same {rows[uris[0]]} billing rows"
            for uris in by_digest.values() if len(uris) > 1]


def shared_line_items(hashes_by_file: dict[str, list[np.ndarray]]) -> list[str]:
    """Pairs of files holding the same provider line items (id and time interval)."""
    if len(hashes_by_file) < 2:
        return []
    files = [(uri, np.unique(np.concatenate(chunks))) for uri, chunks in hashes_by_file.items()]
    hashes = np.concatenate([h for _, h in files])
    owners = np.repeat(np.arange(len(files)), [len(h) for _, h in files])
    order = np.argsort(hashes, kind="stable")
    hashes, owners = hashes[order], owners[order]
    same = np.flatnonzero(hashes[1:] == hashes[:-1])  # unique per file: equal neighbours are in two files
    pairs = Counter(zip(owners[same].tolist(), owners[same + 1].tolist()))
    return [f"{files[a][0]} and {files[b][0]} share {count} line item(s) (identity_line_item_id and identity_time_interval)"
            for (a, b), count in sorted(pairs.items())]


def _split_query(columns: dict[str, str], per_row: str, window: str) -> str:
    """SQL over the batch: its clean rows in the window that split cost allocation data needs (pods,
    and EC2 instance-hour rows: container_splits.parts picks them again), summed per day."""
    keys = ["resource_id", *container_splits.PARENT_DIMENSIONS, *TAG_COLUMNS, SPLIT_PARENT]
    units = ", ".join(scan.sql_text(u) for u in container_splits.INSTANCE_HOUR_UNITS)
    instance = scan.sql_text(container_splits.INSTANCE_PREFIX + "%")
    return f"""
        WITH row AS (SELECT {per_row} FROM {scan.BATCH})
        SELECT to_timestamp((epoch_us(charge_period_start) // 86400000000) * 86400) AS charge_period_start,
               {', '.join(scan.ident(k) for k in keys)},
               sum(billed_cost) AS billed_cost, sum(effective_cost) AS effective_cost,
               bool_or(is_estimated) AS is_estimated,
               {', '.join(f'sum({scan.ident(c)}) AS {scan.ident(c)}' for c in SPLIT_LINE_ITEM_COLUMNS[1:])}
        FROM row
        WHERE NOT dirty AND coalesce({window}, false)
          AND ({scan.ident(SPLIT_PARENT)} IS NOT NULL
               OR (resource_id LIKE {instance} AND lower(usage_unit) IN ({units})))
        GROUP BY ALL"""


def compact(items: pd.DataFrame) -> pd.DataFrame:
    """Sum line items that differ only in their amounts.

    Resource ids are kept only on rows of an hour or less, the only ones
    hourly_costs uses: daily_costs has no resource column, so longer rows of
    one key collapse into one.
    """
    longer = ~((items["charge_period_end"] - items["charge_period_start"]) <= HOURLY)
    items = items.assign(resource_id=set_where(items["resource_id"], longer, ""))
    summed = items.groupby(GROUP_KEYS, dropna=False, sort=False, observed=True)[MEASURE_COLUMNS].sum().reset_index()
    # Plain objects again: concatenating batches whose categories differ is slow.
    categorical = [c for c in summed.columns if _is_categorical(summed[c])]
    summed[categorical] = summed[categorical].astype(object)
    return summed[LINE_ITEM_COLUMNS]


def rejected_rows(source: str, file: BillingFile, row_numbers: np.ndarray, batch: pa.Table, parsed: pd.DataFrame,
                  bad: pd.Series, periods: pd.Series, start, end) -> pd.DataFrame:
    """The unusable rows of a batch that may belong to the window, with the raw values they had.

    A row is dated by its charge start. Without a readable one it may belong to
    any day of its billing period: it is dated on the period's first day (one
    place, so re-runs never copy it) and returned for every window that
    overlaps the period, so each such run weighs it; without a known period,
    for every window, dated on the window's first day and marked UNDATED (the
    run stores it only if no earlier run has: rejected.not_stored_yet).
    """
    positions = np.flatnonzero(bad.to_numpy())
    days, relevant, undated = [], [], []
    for charge, period in zip(parsed["charge_period_start"].iloc[positions], periods.iloc[positions]):
        undated.append(pd.isna(charge) and pd.isna(period))
        if pd.notna(charge):
            days.append(charge.date())
            relevant.append(start <= charge < end)
        elif pd.notna(period):
            days.append(period)
            relevant.append(period < end.date() and month_after(period) > start.date())
        else:
            days.append(start.date())
            relevant.append(True)
    keep = np.array(relevant, dtype=bool)
    positions, days, undated = positions[keep], np.array(days, dtype=object)[keep], np.array(undated, dtype=bool)[keep]
    if len(positions) == 0:
        return empty_rejected()
    raw = batch.take(pa.array(positions)).to_pylist()
    frame = pd.DataFrame({
        "date": days,
        "source": source,
        "file": file.uri,
        "row_number": row_numbers[positions],
        "reason": parsed[REASON].iloc[positions].to_numpy(),
        "billed_cost": parsed["billed_cost"].iloc[positions].to_numpy(),
        "effective_cost": parsed["effective_cost"].iloc[positions].to_numpy(),
        "raw": [json.dumps(row, default=str) for row in raw],
    })
    frame[["billed_cost", "effective_cost"]] = frame[["billed_cost", "effective_cost"]].astype(object).where(
        frame[["billed_cost", "effective_cost"]].notna(), None)
    frame[UNDATED] = undated
    return frame[[*REJECTED_COLUMNS, UNDATED]]
