"""Customer unit economics as of each day: pure functions over DataFrames.

Per customer and as-of day D: the allocated cost of D-29 .. D as a 30-day
figure, MRR as of D, gross margin (null when MRR is 0 or missing, never 0),
trend against D-59 .. D-30, the direct and the fully loaded (with spread
overhead) margin, and a breakdown by service. Days without allocation data
are counted and reported; the cost of the days with data is scaled to 30
days instead of treating the missing days as free.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cost_assets.allocation.allocation import ACTIVE
from cost_assets.analytics.windows import WINDOW_DAYS, AsOfWindows, change_pct, key_index, monthly

ECONOMICS_COLUMNS = [
    "as_of_date", "customer_id", "customer_name", "status", "mrr", "monthly_infra_cost", "allocated_cost_30d",
    "previous_30_days_cost", "gross_margin_pct", "cost_trend_pct", "is_negative_margin", "days_with_data",
    "missing_days", "overhead_cost", "fully_loaded_cost", "fully_loaded_margin_pct",
    "is_negative_margin_fully_loaded", "cost_breakdown",
]
MONEY_DECIMALS = 6


def margin_pct(mrr: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """(mrr - cost) / mrr * 100, NaN when MRR is 0, negative or missing: no revenue has no margin."""
    mrr = np.asarray(mrr, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mrr > 0, (mrr - cost) / mrr * 100.0, np.nan)


def cents_summing_to(rows: np.ndarray, dollars: np.ndarray, order: np.ndarray, row_count: int) -> np.ndarray:
    """Entries rounded to integer cents, adding up per row to the row total rounded to
    the cent: the first entry of each row in `order` (its largest) absorbs the remainder."""
    exact = np.asarray(dollars, dtype=float) * 100.0
    cents = np.rint(exact).astype(np.int64)
    remainder = np.rint(np.bincount(rows, weights=exact, minlength=row_count)).astype(np.int64) - np.bincount(
        rows, weights=cents, minlength=row_count).astype(np.int64)
    sorted_rows = rows[order]
    first = order[np.r_[True, sorted_rows[1:] != sorted_rows[:-1]]]
    cents[first] += remainder[rows[first]]
    return cents


def _money_text(cents: np.ndarray) -> pa.Array:
    """JSON numbers with two decimals, e.g. -12.05, from integer cents."""
    magnitude = pa.array(np.abs(cents))
    whole = pc.cast(pc.divide(magnitude, 100), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pc.subtract(magnitude, pc.multiply(pc.divide(magnitude, 100), 100)), pa.string()),
                            width=2, padding="0")
    sign = pa.array(np.where(cents < 0, "-", ""))
    return pc.cast(pc.binary_join_element_wise(pc.binary_join_element_wise(sign, whole, ""), fraction, "."),
                   pa.large_string())


def _breakdown_json(rows: np.ndarray, services: pd.Index, service_of: np.ndarray, dollars: np.ndarray,
                    row_count: int) -> np.ndarray:
    """One JSON array per output row: [{"service": ..., "cost": ...}], largest cost first,
    in cents that add up to the row's total rounded to the cent.

    rows/service_of/dollars are parallel arrays of nonzero entries; rows index the output.
    """
    result = np.full(row_count, "[]", dtype=object)
    if len(rows) == 0:
        return result
    # One stable sort on a single integer key: by row, then largest cost first. Entries
    # arrive grouped by row in service order, so ties stay in service order.
    limit = 2**62 // max(row_count, 1)  # costs above limit/100 dollars sort as equals
    magnitude = np.minimum(np.rint(np.abs(dollars) * 100.0), limit - 1).astype(np.int64)
    largest_first = np.argsort(rows.astype(np.int64) * limit - magnitude, kind="stable")
    cents = cents_summing_to(rows, dollars, largest_first, row_count)
    rows, service_of, cents = rows[largest_first], service_of[largest_first], cents[largest_first]
    # large_string: a year of 2,000 customers' breakdowns runs to hundreds of MB.
    prefixes = pa.array([f'{{"service":{json.dumps(name)},"cost":' for name in services], type=pa.large_string())
    entries = pc.binary_join_element_wise(pc.take(prefixes, pa.array(service_of)), _money_text(cents),
                                          pa.scalar("}", pa.large_string()), pa.scalar("", pa.large_string()))
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lists = pa.LargeListArray.from_arrays(pa.array(np.r_[starts, len(rows)], type=pa.int64()), entries)
    joined = pc.binary_join_element_wise(pa.scalar("[", pa.large_string()), pc.binary_join(lists, pa.scalar(",", pa.large_string())),
                                         pa.scalar("]", pa.large_string()), pa.scalar("", pa.large_string()))
    result[rows[starts]] = joined.to_numpy(zero_copy_only=False)
    return result


def unit_economics(windows: AsOfWindows, allocated: pd.DataFrame, overhead: pd.DataFrame,
                   days_with_data, customers: pd.DataFrame) -> pd.DataFrame:
    """Economics rows for every as-of day of `windows` that has data in its window.

    allocated: date, customer_id, service, allocated_cost (days windows.start..last).
    overhead: date, customer_id, overhead_cost. days_with_data: the days the
    allocation ran for. customers: date (as-of day), id, name, mrr, status.
    Rows: each customer active as of the day, and each with allocated cost in
    its window.
    """
    pairs, pair_of_row = key_index(allocated, ["customer_id", "service"])
    ids = pd.Index(sorted(set(pairs["customer_id"]) | set(overhead["customer_id"]) | set(customers["id"])))
    as_of = np.array(windows.as_of_days, dtype=object)
    n_as_of, n_customers = len(as_of), len(ids)

    pair_customer = ids.get_indexer(pairs["customer_id"])
    customer = pair_customer[pair_of_row]
    day = windows.day_index(allocated["date"])
    cost = allocated["allocated_cost"].to_numpy(dtype=float)
    current, previous = windows.trailing(windows.dense(day, customer, cost, n_customers))
    present, _ = windows.trailing(windows.dense(day, customer, np.ones(len(day)), n_customers))
    overhead_ids, overhead_of_row = key_index(overhead, ["customer_id"])
    overhead_sum, _ = windows.trailing(windows.dense(
        windows.day_index(overhead["date"]), ids.get_indexer(overhead_ids["customer_id"])[overhead_of_row],
        overhead["overhead_cost"].to_numpy(dtype=float), n_customers))
    days_now, days_before = windows.data_days(days_with_data)

    # Snapshot columns laid out as as-of days x customers.
    snapshot = customers.assign(a=(pd.to_datetime(customers["date"]) - pd.Timestamp(windows.first)).dt.days,
                                c=ids.get_indexer(customers["id"]))
    snapshot = snapshot[(snapshot["a"] >= 0) & (snapshot["a"] < n_as_of)]
    active = np.zeros((n_as_of, n_customers), dtype=bool)
    active[snapshot["a"], snapshot["c"]] = (snapshot["status"] == ACTIVE).to_numpy()
    known = np.zeros((n_as_of, n_customers), dtype=bool)
    known[snapshot["a"], snapshot["c"]] = True
    mrr = np.full((n_as_of, n_customers), np.nan)
    mrr[snapshot["a"], snapshot["c"]] = pd.to_numeric(snapshot["mrr"], errors="coerce").to_numpy(dtype=float)
    name = np.empty((n_as_of, n_customers), dtype=object)
    name[snapshot["a"], snapshot["c"]] = snapshot["name"].to_numpy()
    status = np.empty((n_as_of, n_customers), dtype=object)
    status[snapshot["a"], snapshot["c"]] = snapshot["status"].to_numpy()

    selected = (active | (present > 0)) & (days_now[:, None] > 0)
    a, c = np.nonzero(selected)
    cost_now = monthly(current, days_now)[a, c]
    cost_before = monthly(previous, days_before)[a, c]
    overhead_now = monthly(overhead_sum, days_now)[a, c]
    fully_loaded = cost_now + overhead_now
    mrr_now = mrr[a, c]
    revenue = np.nan_to_num(mrr_now)  # a missing MRR is no revenue
    frame = pd.DataFrame({
        "as_of_date": as_of[a],
        "customer_id": ids.to_numpy()[c],
        "customer_name": np.where(known[a, c], name[a, c], ids.to_numpy()[c]),
        "status": status[a, c],
        "mrr": mrr_now,
        "monthly_infra_cost": cost_now,
        "allocated_cost_30d": current[a, c],
        "previous_30_days_cost": cost_before,
        "gross_margin_pct": margin_pct(mrr_now, cost_now),
        "cost_trend_pct": change_pct(cost_now, cost_before),
        "is_negative_margin": cost_now > revenue,
        "days_with_data": days_now[a],
        "missing_days": WINDOW_DAYS - days_now[a],
        "overhead_cost": overhead_now,
        "fully_loaded_cost": fully_loaded,
        "fully_loaded_margin_pct": margin_pct(mrr_now, fully_loaded),
        "is_negative_margin_fully_loaded": fully_loaded > revenue,
    })
    frame["cost_breakdown"] = _service_breakdown(windows, pairs, pair_customer, pair_of_row, day, cost, days_now,
                                                 selected)
    money = ["monthly_infra_cost", "allocated_cost_30d", "previous_30_days_cost", "overhead_cost", "fully_loaded_cost"]
    frame[money] = frame[money].round(MONEY_DECIMALS)
    return frame[ECONOMICS_COLUMNS]


def _service_breakdown(windows: AsOfWindows, pairs: pd.DataFrame, pair_customer: np.ndarray, pair_of_row: np.ndarray,
                       day: np.ndarray, cost: np.ndarray, days_now: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """cost_breakdown of the selected (as-of day, customer) rows, in np.nonzero order."""
    by_pair, _ = windows.trailing(windows.dense(day, pair_of_row, cost, len(pairs)))
    a, p = np.nonzero(by_pair)
    services, service_of_pair = np.unique(pairs["service"].to_numpy(dtype=object), return_inverse=True)
    # Output row number of each selected (as-of day, customer) cell.
    row_number = np.full(selected.shape, -1)
    row_number[selected] = np.arange(int(selected.sum()))
    rows = row_number[a, pair_customer[p]]
    keep = rows >= 0
    return _breakdown_json(rows[keep], pd.Index(services), service_of_pair[p[keep]],
                           monthly(by_pair[a, p], days_now[a])[keep], int(selected.sum()))


def lowest_margin_first(economics: pd.DataFrame) -> pd.DataFrame:
    """Customers worst first: a customer with cost but no MRR (null margin) ranks
    below every margin, then margins ascending."""
    rank = economics["gross_margin_pct"].where(
        economics["gross_margin_pct"].notna(),
        np.where(economics["monthly_infra_cost"] > 0, -np.inf, np.inf),
    )
    return economics.assign(_rank=rank).sort_values(["_rank", "customer_id"]).drop(columns="_rank")
