"""The demo's unit economics under its two rules files (README "Which driver?"): shared-db split by
requests (cost_assets/demo/rules.yaml) and by query time (cost_assets/demo/rules_query_time.yaml).

Run by hand:  .venv/bin/python benchmarks/demo_drivers.py [--as-of 2026-11-26]

Materializes the demo's 30 days up to --as-of into a temporary SQLite warehouse per rules file
(in process, about a minute each) and prints the customers whose margin is negative under either,
then the README's table of the negative-margin customers under the demo's own rules (by requests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
from pathlib import Path

from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cost_assets.allocation.assets import cost_allocation
from cost_assets.analytics.assets import as_of_reports
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics, usage_metrics
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.resources.product_db import ProductDatabase
from cost_assets.resources.warehouse import Warehouse
from cost_assets.rules import DEMO_RULES_PATH

RULES = {"requests": DEMO_RULES_PATH, "query time": DEMO_RULES_PATH.with_name("rules_query_time.yaml")}
PIPELINE = [billing_costs, customer_snapshots, service_metrics, usage_metrics, cost_allocation, as_of_reports]


def economics(rules: Path, first: dt.date, last: dt.date, folder: str):
    os.environ["COST_ALLOCATION_RULES"] = str(rules)
    warehouse = Warehouse(url=f"sqlite:///{Path(folder) / (rules.stem + '.db')}")
    with DagsterInstance.ephemeral() as instance:
        materialize(PIPELINE, instance=instance,
                    resources={"warehouse": warehouse, "product_db": ProductDatabase(),
                               "billing": BillingSourceResource(source="demo")},
                    tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                          ASSET_PARTITION_RANGE_END_TAG: last.isoformat()})
    return warehouse.read("SELECT customer_id, customer_name, mrr, monthly_infra_cost, gross_margin_pct, "
                          "fully_loaded_cost, fully_loaded_margin_pct FROM customer_unit_economics WHERE as_of_date = :day", day=last).set_index("customer_id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 11, 26))
    last = parser.parse_args().as_of
    first = last - dt.timedelta(days=29)
    os.environ.setdefault("COST_DEMO_SPIKE_START", "2026-11-10")
    with tempfile.TemporaryDirectory() as folder:
        frames = {name: economics(path, first, last, folder) for name, path in RULES.items()}
    shown = sorted(set().union(*(f.index[f["gross_margin_pct"] < 0] for f in frames.values())))
    print(f"30 days {first}..{last}")
    print("| customer | MRR | " + " | ".join(f"cost ({n}) | margin ({n})" for n in frames) + " |")
    print("|---|---:|" + "---:|---:|" * len(frames))
    for customer in shown:
        row = frames["requests"].loc[customer]
        cells = " | ".join(f"${f.loc[customer, 'monthly_infra_cost']:,.0f} | {f.loc[customer, 'gross_margin_pct']:.1f}%"
                           for f in frames.values())
        print(f"| {customer} {row['customer_name']} | ${row['mrr']:,.0f} | {cells} |")
    own = frames["requests"]
    print("\n| customer | MRR | 30-day cost | gross margin | fully loaded cost | fully loaded margin |")
    print("|---|---:|---:|---:|---:|---:|")
    for customer, row in own[own["gross_margin_pct"] < 0].sort_values("gross_margin_pct").iterrows():
        print(f"| {customer} {row['customer_name']} | ${row['mrr']:,.0f} | ${row['monthly_infra_cost']:,.0f} | "
              f"{row['gross_margin_pct']:.1f}% | ${row['fully_loaded_cost']:,.0f} | {row['fully_loaded_margin_pct']:.1f}% |")


if __name__ == "__main__":
    main()
