"""The demo company (docs/reference.md#the-demo-company): a deterministic synthetic SaaS on AWS.

About $120K a month: production shared infrastructure split by request
counts, dedicated customer resources, staging and development that run
around the clock (hourly rows), tooling, ~5% untagged spend.
Planted, for the pipeline to find:
- three customers with negative gross margin (cust-007 costs ~$8K a month
  on $2K MRR: a dedicated data-processing job);
- ~$18K a month of staging spend outside working hours;
- a misconfigured Lambda (`notifications`) at ~$4K a day for four days from
  COST_DEMO_SPIKE_START (default 2026-11-10; scripts/demo sets it inside its window);
- a little spend tagged with a customer id that does not exist (cust-099);
- an analytics customer (cust-027) with few requests but heavy database
  queries: profitable when shared-db is split by requests (rules.yaml),
  negative when it is split by query time, db_time_ms in usage_metrics
  (rules_query_time.yaml);
- an EKS cluster with split cost allocation data: part of production's api,
  worker and cust-001 EC2 spend runs on three nodes, whose pods carry the
  split (docs/reference.md#container-split-cost); 10-20% of each node is
  unused capacity (unallocated, reason idle, under the demo's rules).

Every value for a day depends only on that day, so any range can be rebuilt.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cost_assets.ingestion.container_splits import SPLIT_COST, SPLIT_LINE_ITEM_COLUMNS, SPLIT_PARENT, SPLIT_UNUSED_COST
from cost_assets.settings import get_settings

GROWTH_EPOCH = dt.date(2026, 10, 1)
DAILY_GROWTH = 1.0004
SPIKE_DAYS = 4
SPIKE_DAILY_COST = 4000.0
PROVIDER = "AWS"
ACCOUNTS = {"production": "111111111111", "staging": "222222222222", "development": "333333333333"}
TOOLING_ACCOUNT = "444444444444"
UNKNOWN_CUSTOMER = "cust-099"

AWS = {
    "ec2": "Amazon Elastic Compute Cloud - Compute",
    "elb": "Elastic Load Balancing",
    "rds": "Amazon Relational Database Service",
    "cache": "Amazon ElastiCache",
    "cloudfront": "Amazon CloudFront",
    "s3": "Amazon Simple Storage Service",
    "ebs": "EC2 - Other",
    "sqs": "Amazon Simple Queue Service",
    "lambda": "AWS Lambda",
    "opensearch": "Amazon OpenSearch Service",
    "emr": "Amazon EMR",
    "cloudwatch": "AmazonCloudWatch",
    "codebuild": "CodeBuild",
    "tax": "Tax",
}


@dataclass(frozen=True)
class CostLine:
    """One recurring charge: a daily cost level and how it varies."""

    aws_service: str
    team: str | None
    service: str | None
    environment: str | None
    daily_cost: float
    usage_unit: str = "Hrs"
    customer_id: str | None = None
    weekend_factor: float = 1.0  # cost on Sat/Sun relative to weekdays
    noise: float = 0.03
    growth: bool = True
    charge_category: str = "Usage"
    business_hours_factor: float = 1.0  # hourly rows: rate 08-20 weekdays vs the rest


# Production: one row per day.
PRODUCTION = [
    CostLine(AWS["ec2"], "core", "api", "production", 420.0, weekend_factor=0.9),
    CostLine(AWS["elb"], "core", "api", "production", 60.0, weekend_factor=0.9),
    CostLine(AWS["ec2"], "core", "worker", "production", 200.0, weekend_factor=0.9),
    CostLine(AWS["sqs"], "core", "worker", "production", 20.0, usage_unit="Requests", weekend_factor=0.9),
    CostLine(AWS["ec2"], "core", "auth", "production", 60.0),
    CostLine(AWS["rds"], "platform", "shared-db", "production", 800.0, noise=0.01),
    CostLine(AWS["rds"], "platform", "shared-db", "production", 40.0, usage_unit="GB-Mo", noise=0.005),
    CostLine(AWS["cache"], "platform", "shared-cache", "production", 190.0, noise=0.0, growth=False),
    CostLine(AWS["cloudfront"], "platform", "cdn", "production", 160.0, usage_unit="GB", weekend_factor=0.85),
    CostLine(AWS["opensearch"], "data", "search", "production", 150.0, noise=0.01),
    CostLine(AWS["lambda"], "growth", "notifications", "production", 45.0, usage_unit="Lambda-GB-Second"),
    CostLine(AWS["cloudwatch"], "platform", "observability", "production", 90.0, usage_unit="Metrics"),
    CostLine(AWS["emr"], "data", "data-pipeline", "production", 150.0, customer_id="cust-007", weekend_factor=1.0),
    CostLine(AWS["ec2"], "data", "data-pipeline", "production", 60.0, customer_id="cust-007"),
    CostLine(AWS["s3"], "data", "data-pipeline", "production", 20.0, usage_unit="GB-Mo", customer_id="cust-007", noise=0.005),
    CostLine(AWS["ec2"], "data", "data-pipeline", "production", 60.0, customer_id="cust-001"),
    CostLine(AWS["ec2"], "data", "data-pipeline", "production", 55.0, customer_id="cust-002"),
    CostLine(AWS["ec2"], "data", "data-pipeline", "production", 50.0, customer_id="cust-003"),
    CostLine(AWS["s3"], "data", "data-pipeline", "production", 15.0, usage_unit="GB-Mo", customer_id=UNKNOWN_CUSTOMER),
    # Untagged spend (~5%): resources nobody tagged.
    CostLine(AWS["ec2"], None, None, None, 120.0),
    CostLine(AWS["s3"], None, None, None, 50.0, usage_unit="GB-Mo", noise=0.005),
    CostLine(AWS["ebs"], None, None, None, 30.0, usage_unit="GB-Mo", noise=0.005),
]
TOOLING = [
    CostLine(AWS["codebuild"], "platform", "ci", "production", 50.0, usage_unit="Minutes", weekend_factor=0.3),
]

# Non-production: hourly rows; staging runs around the clock.
NON_PRODUCTION = [
    CostLine(AWS["ec2"], "core", "api", "staging", 380.0, noise=0.01),
    CostLine(AWS["ec2"], "core", "worker", "staging", 150.0, noise=0.01),
    CostLine(AWS["ec2"], "data", "data-pipeline", "staging", 120.0, noise=0.01),
    CostLine(AWS["rds"], "platform", "shared-db", "staging", 170.0, noise=0.01),
    CostLine(AWS["cache"], "platform", "shared-cache", "staging", 55.0, noise=0.0),
    CostLine(AWS["ebs"], "platform", "shared-db", "staging", 40.0, usage_unit="GB-Mo", noise=0.0),
    CostLine(AWS["s3"], "data", "data-pipeline", "staging", 18.0, usage_unit="GB-Mo", noise=0.0),
    CostLine(AWS["ec2"], "core", "api", "development", 90.0, business_hours_factor=3.0),
    CostLine(AWS["rds"], "platform", "shared-db", "development", 30.0, noise=0.0),
    CostLine(AWS["s3"], "core", "api", "development", 10.0, usage_unit="GB-Mo", noise=0.0),
]

# The production EKS cluster: which PRODUCTION lines (by index) run part of their cost on it, and
# the share moved; the nodes' cost is exactly what the lines lose, so totals stay as they were.
EKS_CLUSTER = "prod-eks"
EKS_SERVICE = "Amazon Elastic Kubernetes Service"
EKS_WORKLOADS = {0: ("api", 0.7), 2: ("worker", 0.75), 15: ("cust-001", 1.0)}  # line -> (namespace, share)
EKS_NODES = {"i-0d3e0e4b5a6c70001": 0.40, "i-0d3e0e4b5a6c70002": 0.35, "i-0d3e0e4b5a6c70003": 0.25}
EKS_IDLE_SHARE = (0.10, 0.20)  # each node's unused capacity per day, drawn in this range
MICROS = 1_000_000

CUSTOMER_NAMES = [
    "Acme Corp", "Globex Industries", "Initech", "Umbrella Health", "Stark Logistics", "Wayne Retail",
    "Northwind Analytics", "Contoso Bank", "Fabrikam Media", "Tailspin Travel", "Wide World Importers",
    "Adventure Works", "Litware", "Proseware", "Lucerne Publishing", "Margie's Travel", "Coho Winery",
    "Woodgrove Finance", "Alpine Ski House", "Blue Yonder Air", "Fourth Coffee", "Graphic Design Institute",
    "Humongous Insurance", "Relecloud", "School of Fine Art", "Southridge Video", "Trey Research",
    "VanArsdel", "Wingtip Toys", "Datum Corp", "Bellows College", "Best For You Organics", "Consolidated Messenger",
    "City Power & Light", "Nod Publishers", "Olympia Sports", "Parnell Aerospace", "Tasmanian Traders",
    "Lamna Healthcare", "Munson's Pickles",
]
# Planted negative-margin customers: id -> (MRR, share of shared-service requests).
NEGATIVE_MARGIN = {"cust-007": (2000.0, 0.015), "cust-019": (3000.0, 0.072), "cust-031": (1500.0, 0.032)}
# Planted query-heavy customer: id -> (MRR, share of requests, share of shared-db query time).
QUERY_HEAVY = {"cust-027": (2400.0, 0.004, 0.12)}
PLANTED = {**NEGATIVE_MARGIN, **{c: (mrr, share) for c, (mrr, share, _) in QUERY_HEAVY.items()}}
CHURNED = {"cust-040"}
# Services whose request counts the product database records.
METERED_SERVICES = {"api": 2_000_000, "shared-db": 9_000_000, "shared-cache": 25_000_000, "cdn": 4_000_000}
# Query time of shared-db per day (usage_metrics metric db_time_ms): ~11 hours of database time.
DB_TIME_METRIC = "db_time_ms"
DAILY_DB_TIME_MS = 40_000_000


def _customer_table() -> pd.DataFrame:
    ids = [f"cust-{i:03d}" for i in range(1, len(CUSTOMER_NAMES) + 1)]
    rng = np.random.default_rng(20260101)
    raw_weights = rng.lognormal(mean=0.0, sigma=0.6, size=len(ids))
    margin_factor = rng.uniform(2.5, 6.0, size=len(ids))
    # Query time per request relative to the average customer (drawn after the above: they stay as they were).
    query_intensity = rng.lognormal(mean=0.0, sigma=0.25, size=len(ids))
    regular = [c for c in ids if c not in PLANTED and c not in CHURNED]
    regular_share = 1.0 - sum(share for _, share in PLANTED.values())
    regular_weights = np.array([raw_weights[ids.index(c)] for c in regular])
    regular_weights = regular_weights / regular_weights.sum() * regular_share
    rows = []
    for index, customer_id in enumerate(ids):
        if customer_id in PLANTED:
            mrr, share = PLANTED[customer_id]
        elif customer_id in CHURNED:
            mrr, share = 0.0, 0.0
        else:
            share = float(regular_weights[regular.index(customer_id)])
            # Priced well above the customer's expected monthly cost (~$60K shared pool).
            mrr = round((share * 60_000 + 2_000) * margin_factor[index], -2)
        rows.append(
            {
                "id": customer_id,
                "name": CUSTOMER_NAMES[index],
                "mrr": mrr,
                "status": "churned" if customer_id in CHURNED else "active",
                "request_share": share,
                "db_time_weight": share * query_intensity[index],
            }
        )
    frame = pd.DataFrame(rows)
    # Shares of shared-db query time: the query-heavy customer's as planted, the rest by requests x intensity.
    heavy = frame["id"].isin(list(QUERY_HEAVY))
    others = frame.loc[~heavy, "db_time_weight"]
    frame.loc[~heavy, "db_time_share"] = others / others.sum() * (1.0 - sum(q for _, _, q in QUERY_HEAVY.values()))
    frame.loc[heavy, "db_time_share"] = frame.loc[heavy, "id"].map({c: q for c, (_, _, q) in QUERY_HEAVY.items()})
    return frame.drop(columns="db_time_weight")


CUSTOMERS = _customer_table()


def spike_start() -> dt.date:
    return get_settings().demo_spike_start


def _rng(day: dt.date, stream: str) -> np.random.Generator:
    return np.random.default_rng([day.toordinal(), zlib.crc32(stream.encode())])


def _level(line: CostLine, day: dt.date) -> float:
    level = line.daily_cost
    if line.growth:
        level *= DAILY_GROWTH ** (day - GROWTH_EPOCH).days
    if day.weekday() >= 5:
        level *= line.weekend_factor
    return level


def _spike_cost(line: CostLine, day: dt.date, start: dt.date) -> float | None:
    if line.service == "notifications" and start <= day < start + dt.timedelta(days=SPIKE_DAYS):
        return SPIKE_DAILY_COST
    return None


def _account(line: CostLine) -> str:
    if line.service == "ci":
        return TOOLING_ACCOUNT
    return ACCOUNTS.get(line.environment or "production", ACCOUNTS["production"])


def _line_frame(lines: list[CostLine], day: dt.date, hourly: bool, estimated: bool, start: dt.date) -> pd.DataFrame:
    rng = _rng(day, "hourly" if hourly else "daily")
    day_start = pd.Timestamp(day, tz="UTC")
    records = []
    for number, line in enumerate(lines):
        level = _spike_cost(line, day, start) or _level(line, day)
        noise = rng.normal(0.0, line.noise, size=24 if hourly else 1)
        if hourly:
            hours = np.arange(24)
            working = (hours >= 8) & (hours < 20) & (day.weekday() < 5)
            weight = np.where(working, line.business_hours_factor, 1.0)
            costs = level * weight / weight.sum() * (1.0 + noise)
            starts = [day_start + pd.Timedelta(hours=int(h)) for h in hours]
            span = pd.Timedelta(hours=1)
        else:
            costs = np.array([level * (1.0 + noise[0])])
            starts = [day_start]
            span = pd.Timedelta(days=1)
        unit_price = 0.1 if line.usage_unit == "Hrs" else 0.023
        for period_start, cost in zip(starts, costs):
            cost = round(max(float(cost), 0.0), 6)
            records.append(
                {
                    "charge_period_start": period_start,
                    "charge_period_end": period_start + span,
                    "provider": PROVIDER,
                    "account_id": _account(line),
                    "aws_service": line.aws_service,
                    "charge_category": line.charge_category,
                    "team": line.team,
                    "service": line.service,
                    "customer_id": line.customer_id,
                    "environment": line.environment,
                    "usage_unit": line.usage_unit,
                    "invoice_id": "",  # like Cost Explorer, the demo's bill has no invoice ids
                    "resource_id": f"demo-{line.environment or 'untagged'}-{line.service or 'untagged'}-{number}",
                    "billed_cost": cost,
                    "effective_cost": cost,
                    "usage_quantity": round(cost / unit_price, 3),
                    "is_estimated": estimated,
                    "row_ref": f"demo {day.isoformat()} line {number}",
                }
            )
    return pd.DataFrame.from_records(records)


def _micros(values) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=float) * MICROS).astype(np.int64)


def _split_exact(total: int, weights: np.ndarray) -> np.ndarray:
    """`total` micro-dollars in proportion to `weights`, the parts adding up exactly."""
    boundary = np.rint(total * np.cumsum(weights) / weights.sum()).astype(np.int64)
    boundary[-1] = total
    return np.diff(np.r_[np.int64(0), boundary])


def _eks_cluster(production: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Moves part of the EKS_WORKLOADS lines' cost (rows of `production`, changed in place) onto the
    cluster: one instance-hour row per node, and per node and namespace a pod row with the split cost
    allocation columns (billed 0; split + unused cost of a node's pods = the node's cost, to the micro)."""
    lines = list(EKS_WORKLOADS)
    refs = [f"demo {day.isoformat()} line {number}" for number in lines]
    before = _micros(production.set_index("row_ref").loc[refs, "effective_cost"].to_numpy())
    moved = np.array([int(round(cost * EKS_WORKLOADS[n][1])) for cost, n in zip(before, lines)], dtype=np.int64)
    rows = production["row_ref"].isin(refs).to_numpy()
    kept = (before - moved) / MICROS
    order = [refs.index(ref) for ref in production.loc[rows, "row_ref"]]
    production.loc[rows, "billed_cost"] = kept[order]
    production.loc[rows, "effective_cost"] = kept[order]
    production.loc[rows, "usage_quantity"] = np.round(kept[order] / 0.1, 3)

    nodes = _split_exact(int(moved.sum()), np.array(list(EKS_NODES.values())))
    # pods[k, w]: node k's cost used by namespace w; rows add up to the nodes, columns to what moved.
    pods = np.array([_split_exact(int(node), moved.astype(float)) for node in nodes[:-1]])
    pods = np.vstack([pods, moved - pods.sum(axis=0)])
    idle = _rng(day, "eks").uniform(*EKS_IDLE_SHARE, size=len(nodes))
    unused = np.rint(pods * idle[:, None]).astype(np.int64)

    day_start = pd.Timestamp(day, tz="UTC")
    common = {"charge_period_start": day_start, "charge_period_end": day_start + pd.Timedelta(days=1),
              "provider": PROVIDER, "account_id": ACCOUNTS["production"], "charge_category": "Usage",
              "invoice_id": "", "environment": "production", "is_estimated": bool(production["is_estimated"].iloc[0])}
    records = []
    for k, (node, cost) in enumerate(zip(EKS_NODES, nodes)):
        records.append({**common, "aws_service": AWS["ec2"], "team": "platform", "service": "eks", "customer_id": None,
                        "usage_unit": "Hrs", "resource_id": node, "billed_cost": cost / MICROS,
                        "effective_cost": cost / MICROS, "usage_quantity": 24.0,
                        "row_ref": f"demo {day.isoformat()} {EKS_CLUSTER} node {node}",
                        SPLIT_PARENT: None, SPLIT_COST: None, SPLIT_UNUSED_COST: None})
        for w, number in enumerate(lines):
            source = production[production["row_ref"] == refs[w]].iloc[0]
            namespace = EKS_WORKLOADS[number][0]
            records.append({**common, "aws_service": EKS_SERVICE, "team": source["team"], "service": source["service"],
                            "customer_id": source["customer_id"], "usage_unit": "Hrs",
                            "resource_id": f"{EKS_CLUSTER}/{namespace}/{namespace}-{k + 1}", "billed_cost": 0.0,
                            "effective_cost": 0.0, "usage_quantity": 24.0,
                            "row_ref": f"demo {day.isoformat()} {EKS_CLUSTER} pod {namespace}-{k + 1}",
                            SPLIT_PARENT: node, SPLIT_COST: (pods[k, w] - unused[k, w]) / MICROS,
                            SPLIT_UNUSED_COST: unused[k, w] / MICROS})
    production.drop(production.index[rows][kept[order] == 0], inplace=True)  # lines wholly on the cluster
    return pd.DataFrame.from_records(records)


def line_items(first: dt.date, last: dt.date, today: dt.date | None = None) -> pd.DataFrame:
    """The demo's billing line items for UTC days first..last, with the EKS pods' split cost columns
    (SPLIT_LINE_ITEM_COLUMNS; empty on other rows)."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    start = spike_start()
    frames = []
    day = first
    while day <= last:
        estimated = (today - day).days <= 2  # the last days are still estimated, as in AWS
        production = _line_frame(PRODUCTION + TOOLING, day, hourly=False, estimated=estimated, start=start)
        frames.append(production)
        frames.append(_eks_cluster(production, day))
        frames.append(_line_frame(NON_PRODUCTION, day, hourly=True, estimated=estimated, start=start))
        day += dt.timedelta(days=1)
    items = pd.concat(frames, ignore_index=True)
    items[SPLIT_PARENT] = items[SPLIT_PARENT].astype(object).where(items[SPLIT_PARENT].notna(), None)
    for column in (SPLIT_COST, SPLIT_UNUSED_COST):
        items[column] = items[column].astype(float)
    return items[[*[c for c in items.columns if c not in SPLIT_LINE_ITEM_COLUMNS], *SPLIT_LINE_ITEM_COLUMNS]]


def customers(day: dt.date) -> pd.DataFrame:
    """The product database's customers as of a day."""
    return CUSTOMERS[["id", "name", "mrr", "status"]].copy()


def service_metrics(first: dt.date, last: dt.date) -> pd.DataFrame:
    """Per-customer request counts for the metered services."""
    active = CUSTOMERS[CUSTOMERS["status"] == "active"]
    frames = []
    day = first
    while day <= last:
        rng = _rng(day, "requests")
        for service, daily_requests in METERED_SERVICES.items():
            volume = daily_requests * DAILY_GROWTH ** (day - GROWTH_EPOCH).days
            noise = rng.normal(1.0, 0.05, size=len(active)).clip(0.5, 1.5)
            frames.append(
                pd.DataFrame(
                    {
                        "date": day,
                        "service": service,
                        "customer_id": active["id"].to_numpy(),
                        "request_count": (volume * active["request_share"].to_numpy() * noise).round().astype("int64"),
                    }
                )
            )
        day += dt.timedelta(days=1)
    return pd.concat(frames, ignore_index=True)


def usage_metrics(first: dt.date, last: dt.date) -> pd.DataFrame:
    """The product database's usage_metrics beyond requests: shared-db query time (db_time_ms) per customer."""
    active = CUSTOMERS[CUSTOMERS["status"] == "active"]
    frames = []
    day = first
    while day <= last:
        rng = _rng(day, DB_TIME_METRIC)
        volume = DAILY_DB_TIME_MS * DAILY_GROWTH ** (day - GROWTH_EPOCH).days
        noise = rng.normal(1.0, 0.05, size=len(active)).clip(0.5, 1.5)
        frames.append(
            pd.DataFrame(
                {
                    "date": day,
                    "service": "shared-db",
                    "customer_id": active["id"].to_numpy(),
                    "metric": DB_TIME_METRIC,
                    "quantity": (volume * active["db_time_share"].to_numpy() * noise).round(),
                }
            )
        )
        day += dt.timedelta(days=1)
    return pd.concat(frames, ignore_index=True)
