"""The `cost_explorer` billing source: AWS Cost Explorer GetCostAndUsage (docs/reference.md#billing-inputs).

Request plan
------------
daily_costs wants the joint breakdown of seven keys: RECORD_TYPE
(charge_category), LINKED_ACCOUNT, SERVICE (the provider service) and the
team / service / customer / environment tags. GetCostAndUsage groups by at most
two keys per request, so the source drills down level by level. Every request
covers the whole window at DAILY granularity; a level issues one request per
value combination found by the levels above it, filtered on that combination
(`Filter: {"And": [Dimensions..., Tags...]}`):

    request            GroupBy                        requests
    totals             none                           1  -> SourceResult.day_totals
    level 1            RECORD_TYPE                    1
    level 2            LINKED_ACCOUNT, environment    |R|
    level 3            team, service                  |R x A x E|
    level 4 (leaves)   SERVICE, customer              |R x A x E x T x S|

where |R x A x E| counts the (record type, account, environment) combinations
that occur in the window, and so on. Keys with few values come first and the
two widest (SERVICE, customer) last, because a level costs one request per
combination of the keys above it. The count does not grow with the number of
days, except for extra NextPageToken pages (each page is a billed request).
Combinations whose amounts are all zero are not drilled. COST_CE_MAX_REQUESTS
caps the count: a level (or page) that would pass the cap is refused before any
of its requests is made.

Untagged values (`key$`) are filtered with MatchOptions ABSENT. Cost that a
level's filtered request does not return for its parent (a tag present with an
empty value, a dimension value a filter cannot name) is kept as a remainder row
carrying the keys known so far, the rest untagged, so the breakdown always adds
up to level 1. day_totals come from the ungrouped request, so the
reconciliation check compares the breakdown with an independent figure.

Hourly data (COST_CE_HOURLY=1)
------------------------------
Cost Explorer answers HOURLY granularity only for the last 14 days, and only
once hourly granularity is enabled in the account (Cost Management
preferences -> "Hourly granularity", a paid opt-in). With COST_CE_HOURLY=1
the source runs the same drill-down a second time at HOURLY granularity over
the days of the window that fall within the last 14 days (TimePeriod in
`yyyy-MM-ddThh:mm:ssZ`), sharing the request count and COST_CE_MAX_REQUESTS
with the DAILY plan. The hourly rows go to SourceResult.hourly_line_items,
which feeds hourly_costs only: daily_costs and its reconciliation keep coming
from DAILY, so no cost is counted twice. SourceResult.hourly_days names the
days fetched hourly, so older days' hourly rows (which Cost Explorer can no
longer give) are kept.

AWS does not document the exact answer for an account without the opt-in; it
has been reported as AccessDeniedException ("HOURLY data is not publicly
supported yet, please reach out to customer service to opt in") and, for a
start beyond 14 days, ValidationException ("Start date is more than 14 days
ago for hourly granularity"). An AccessDeniedException or
DataUnavailableException to an HOURLY request, or a ValidationException that
mentions hourly or granularity, is taken as "hourly data not available": the
run goes on with the DAILY data, says so in the metadata (`ce_hourly`) and
the log, and leaves hourly_costs as it was.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import boto3
import pandas as pd
from botocore.config import Config
from botocore.exceptions import ClientError
from dagster import get_dagster_logger

from cost_assets.ingestion.line_items import LINE_ITEM_COLUMNS, BadCostDataError
from cost_assets.ingestion.sources.base import SourceResult
from cost_assets.rules import Rules
from cost_assets.partitions import day_range
from cost_assets.settings import SettingError, get_settings

# --- request shape -----------------------------------------------------------
GRANULARITY = "DAILY"
HOURLY = "HOURLY"
HOURLY_DAYS = 14  # Cost Explorer keeps hourly data for the last 14 days
HOURLY_SETTING = "COST_CE_HOURLY"
# An HOURLY request refused with one of these means "hourly data not available here".
HOURLY_UNAVAILABLE_CODES = {"AccessDeniedException", "DataUnavailableException"}
MAX_GROUP_BY = 2  # AWS: "Only two values for GroupBy are allowed"
EFFECTIVE_METRIC = "AmortizedCost"
BILLED_METRIC = "UnblendedCost"
USAGE_METRIC = "UsageQuantity"
METRICS = [EFFECTIVE_METRIC, BILLED_METRIC, USAGE_METRIC]
TOTAL_METRICS = [EFFECTIVE_METRIC, BILLED_METRIC]

# The drill-down levels: ("DIMENSION", CE dimension) or ("TAG", rules dimension,
# grouped by its primary tag key).
PLAN: tuple[tuple[tuple[str, str], ...], ...] = (
    (("DIMENSION", "RECORD_TYPE"),),
    (("DIMENSION", "LINKED_ACCOUNT"), ("TAG", "environment")),
    (("TAG", "team"), ("TAG", "service")),
    (("DIMENSION", "SERVICE"), ("TAG", "customer")),
)
DIMENSION_COLUMN = {"RECORD_TYPE": "charge_category", "LINKED_ACCOUNT": "account_id", "SERVICE": "aws_service"}
TAG_COLUMN = {"team": "team", "service": "service", "customer": "customer_id", "environment": "environment"}

# --- client and budget ---------------------------------------------------------
DEFAULT_REGION = "us-east-1"  # Cost Explorer is served from us-east-1 only
# botocore adaptive retries absorb LimitExceededException; its `max_attempts`
# counts retries after the first call.
MAX_RETRIES = 10
MAX_REQUESTS_SETTING = "COST_CE_MAX_REQUESTS"
DEFAULT_MAX_REQUESTS = 200
USD_PER_REQUEST = 0.01
PROVIDER = "AWS"
ZERO = Decimal(0)
# Below this a remainder is rounding in CE's amounts, not unbroken cost.
REMAINDER_TOLERANCE = Decimal("0.000001")

class CostExplorerError(RuntimeError):
    """Cost Explorer refused or failed a request; the message names the request and days."""


class RequestCapExceeded(CostExplorerError):
    """The next requests would pass COST_CE_MAX_REQUESTS."""


class HourlyUnavailable(CostExplorerError):
    """Cost Explorer refused HOURLY granularity (not enabled in the account, or out of its 14 days)."""


def _hourly_unavailable(code: str, message: str) -> bool:
    text = message.lower()
    return code in HOURLY_UNAVAILABLE_CODES or (
        code == "ValidationException" and ("hourly" in text or "granularity" in text)
    )


def make_client(session: boto3.session.Session | None = None):
    """A Cost Explorer client on boto3's own credential/region/endpoint chain."""
    session = session or boto3.session.Session()
    return session.client(
        "ce",
        region_name=session.region_name or DEFAULT_REGION,
        config=Config(retries={"mode": "adaptive", "max_attempts": MAX_RETRIES}),
    )


@dataclass(frozen=True)
class _Key:
    """One GroupBy key and the line-item column it fills."""

    type: str  # DIMENSION or TAG
    key: str  # CE dimension name or tag key
    column: str

    @property
    def group_by(self) -> dict[str, str]:
        return {"Type": self.type, "Key": self.key}

    def label(self) -> str:
        return self.key if self.type == "DIMENSION" else f"tag {self.key}"

    def parse(self, group_key: str) -> str | None:
        """A group key's value; `team$` (untagged) is None."""
        if self.type == "TAG":
            prefix = f"{self.key}$"
            value = group_key[len(prefix):] if group_key.startswith(prefix) else group_key
            return value or None
        return group_key

    def condition(self, value: str | None) -> dict[str, Any] | None:
        """The filter selecting `value`; None when no filter can name it."""
        if self.type == "TAG":
            if value is None:
                return {"Tags": {"Key": self.key, "MatchOptions": ["ABSENT"]}}
            return {"Tags": {"Key": self.key, "Values": [value], "MatchOptions": ["EQUALS"]}}
        if not value:
            return None
        return {"Dimensions": {"Key": self.key, "Values": [value]}}


def _levels(rules: Rules) -> list[list[_Key]]:
    levels = []
    for level in PLAN:
        keys = []
        for kind, name in level:
            if kind == "TAG":
                keys.append(_Key("TAG", rules.primary_tag_key(name), TAG_COLUMN[name]))
            else:
                keys.append(_Key("DIMENSION", name, DIMENSION_COLUMN[name]))
        levels.append(keys)
    return levels


def _days_label(first: dt.date, last: dt.date) -> str:
    return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


def _decimal(metrics: dict[str, Any], name: str) -> Decimal | None:
    try:
        return Decimal(str(metrics[name]["Amount"]))
    except (KeyError, TypeError, InvalidOperation):
        return None


@dataclass
class _DayAmounts:
    """Summed amounts on one day; None marks a missing or garbled amount."""

    amounts: dict[str, Decimal | None] = field(default_factory=lambda: dict.fromkeys(METRICS, ZERO))
    estimated: bool = False
    unit: str = ""
    request: int = 0  # the request (page) that reported it, for row_ref

    def add(self, metrics: dict[str, Any]) -> None:
        for name in METRICS:
            value, current = _decimal(metrics, name), self.amounts[name]
            self.amounts[name] = None if value is None or current is None else current + value


@dataclass
class _Node:
    """A value combination of the keys drilled so far, with its daily amounts."""

    values: tuple[str | None, ...]
    days: dict[str, _DayAmounts] = field(default_factory=dict)

    def add(self, day: str, metrics: dict[str, Any], estimated: bool, request: int) -> None:
        amounts = self.days.setdefault(day, _DayAmounts(request=request))
        amounts.add(metrics)
        amounts.estimated |= estimated
        amounts.unit = (metrics.get(USAGE_METRIC) or {}).get("Unit") or amounts.unit

    def is_zero(self) -> bool:
        return all(a.amounts[m] == ZERO for a in self.days.values() for m in METRICS)

    def sort_key(self) -> tuple:
        return tuple((v is None, v or "") for v in self.values)


class _Requests:
    """Issues GetCostAndUsage calls for one window, counted against the cap."""

    def __init__(self, client, cap: int, first: dt.date, last: dt.date, granularity: str = GRANULARITY,
                 count: int = 0):
        self.client = client
        self.cap = cap
        self.first, self.last = first, last
        self.granularity = granularity
        self.count = count  # requests already made in this run (the cap is per run)

    @property
    def days(self) -> str:
        label = _days_label(self.first, self.last)
        return f"{label} at {HOURLY} granularity" if self.granularity == HOURLY else label

    def time_period(self) -> dict[str, str]:
        end = self.last + dt.timedelta(days=1)
        if self.granularity == HOURLY:  # HOURLY takes date-times, yyyy-MM-ddThh:mm:ssZ
            return {"Start": f"{self.first.isoformat()}T00:00:00Z", "End": f"{end.isoformat()}T00:00:00Z"}
        return {"Start": self.first.isoformat(), "End": end.isoformat()}

    def reserve(self, needed: int, what: str) -> None:
        if self.count + needed > self.cap:
            raise RequestCapExceeded(
                f"Cost Explorer needs {needed} more request(s) for {what} ({self.days}) after the "
                f"{self.count} already made, above {MAX_REQUESTS_SETTING}={self.cap} "
                f"(${USD_PER_REQUEST:.2f} per request); raise {MAX_REQUESTS_SETTING} or fetch fewer days"
            )

    def get(self, keys: list[_Key], condition: dict[str, Any] | None,
            metrics: list[str]) -> list[tuple[int, dict[str, Any]]]:
        """Every ResultsByTime entry of one query, with the number of the page it came on."""
        if len(keys) > MAX_GROUP_BY:
            raise ValueError(f"Cost Explorer takes at most {MAX_GROUP_BY} GroupBy keys, not {len(keys)}")
        params: dict[str, Any] = {
            "TimePeriod": self.time_period(),
            "Granularity": self.granularity,
            "Metrics": metrics,
        }
        if keys:
            params["GroupBy"] = [key.group_by for key in keys]
        if condition:
            params["Filter"] = condition
        entries: list[tuple[int, dict[str, Any]]] = []
        token = None
        while True:
            self.reserve(1, "the next page" if token else "the next query")
            self.count += 1
            page = dict(params, NextPageToken=token) if token else params
            try:
                response = self.client.get_cost_and_usage(**page)
            except ClientError as exc:
                raise self._error(exc, params) from exc
            entries.extend((self.count, entry) for entry in response.get("ResultsByTime", []))
            token = response.get("NextPageToken")
            if not token:
                return entries

    def _error(self, exc: ClientError, params: dict[str, Any]) -> CostExplorerError:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", str(exc))
        group_by = ", ".join(f"{g['Type']} {g['Key']}" for g in params.get("GroupBy", [])) or "none"
        request = (f"request {self.count} (GroupBy {group_by}; Filter "
                   f"{json.dumps(params.get('Filter')) if 'Filter' in params else 'none'})")
        if self.granularity == HOURLY and _hourly_unavailable(code, message):
            return HourlyUnavailable(
                f"Cost Explorer has no hourly data for {self.days}: {code} on {request}: {message}. Hourly "
                f"granularity must be enabled in Cost Management preferences and covers the last {HOURLY_DAYS} days"
            )
        if code == "DataUnavailableException":
            return CostExplorerError(
                f"Cost Explorer has no data for the day(s) requested, {self.days}: {code} on {request}: {message}"
            )
        if code == "LimitExceededException":
            return CostExplorerError(
                f"Cost Explorer kept throttling {request} for {self.days} (LimitExceededException) after "
                f"{MAX_RETRIES} adaptive retries by botocore; try again later: {message}"
            )
        return CostExplorerError(f"Cost Explorer rejected {request} for {self.days}: {code}: {message}")


def _describe(keys: list[_Key], values: tuple[str | None, ...]) -> str:
    return ", ".join(f"{key.key}={'(untagged)' if v is None else v}" for key, v in zip(keys, values)) or "all costs"


class CostExplorerSource:
    name = "cost_explorer"

    def __init__(self, client=None, max_requests: int = DEFAULT_MAX_REQUESTS, hourly: bool = False,
                 today: dt.date | None = None):
        if max_requests < 1:
            raise SettingError(f"{MAX_REQUESTS_SETTING}={max_requests} must be at least 1")
        self.client = client if client is not None else make_client()
        self.max_requests = max_requests
        self.hourly = hourly
        self.today = today  # None: the current UTC day (tests pin it)

    @classmethod
    def from_settings(cls) -> CostExplorerSource:
        config = get_settings()
        return cls(max_requests=config.ce_max_requests, hourly=config.ce_hourly)

    def fetch(self, first: dt.date, last: dt.date, rules: Rules) -> SourceResult:
        if last < first:
            raise ValueError(f"cost_explorer: last day {last} is before first day {first}")
        requests = _Requests(self.client, self.max_requests, first, last)
        day_totals = _day_totals(requests)
        totals_requests = requests.count
        levels = _levels(rules)
        rows, per_level = _drill_down(requests, levels)
        per_level.insert(0, f"totals {totals_requests}")
        remainders = [row for row in rows if " remainder " in row["row_ref"]]
        items = pd.DataFrame(rows, columns=LINE_ITEM_COLUMNS)
        metadata = {
            "ce_requests_by_level": ", ".join(per_level),
            "ce_max_requests": self.max_requests,
            "ce_remainder_rows": len(remainders),
            "ce_remainder_effective_cost": round(float(sum(Decimal(r["effective_cost"]) for r in remainders)), 6),
        }
        hourly_items, hourly_days = None, None  # off: hourly_costs handled as for any source
        if self.hourly:
            hourly_items, hourly_days, hourly_metadata = self._fetch_hourly(first, last, levels, requests.count)
            metadata.update(hourly_metadata)
        else:
            metadata["ce_hourly"] = f"off ({HOURLY_SETTING}=1 fetches the last {HOURLY_DAYS} days hourly)"
        count = metadata.get("ce_requests", requests.count)
        metadata.update(ce_requests=count, ce_estimated_cost_usd=round(count * USD_PER_REQUEST, 2))
        return SourceResult(line_items=items, day_totals=day_totals, metadata=metadata,
                            hourly_line_items=hourly_items, hourly_days=hourly_days)

    def _fetch_hourly(self, first: dt.date, last: dt.date, levels: list[list[_Key]],
                      count: int) -> tuple[pd.DataFrame | None, list[dt.date], dict[str, Any]]:
        """The HOURLY drill-down over the days of first..last within Cost Explorer's 14 days."""
        today = self.today or dt.datetime.now(dt.timezone.utc).date()
        hourly_first = max(first, today - dt.timedelta(days=HOURLY_DAYS - 1))
        hourly_last = min(last, today)
        if hourly_first > hourly_last:
            return None, [], {"ce_hourly": f"no day of {_days_label(first, last)} is within Cost Explorer's "
                                           f"last {HOURLY_DAYS} days of hourly data; hourly_costs kept as it was"}
        requests = _Requests(self.client, self.max_requests, hourly_first, hourly_last, HOURLY, count=count)
        try:
            rows, per_level = _drill_down(requests, levels)
        except HourlyUnavailable as exc:
            # Not a failure: the DAILY data stands; say why there is no hourly data.
            get_dagster_logger().warning(f"{exc}; {HOURLY_SETTING}=1 is ignored for this run")
            return None, [], {"ce_hourly": f"not available: {exc}", "ce_requests": requests.count,
                              "ce_hourly_requests": requests.count - count}
        items = pd.DataFrame(rows, columns=LINE_ITEM_COLUMNS)
        effective = sum((Decimal(str(r["effective_cost"])) for r in rows if r["effective_cost"] is not None), ZERO)
        return items, day_range(hourly_first, hourly_last), {
            "ce_hourly": f"fetched {_days_label(hourly_first, hourly_last)} ({len(rows)} hourly line items)",
            "ce_requests": requests.count,
            "ce_hourly_requests": requests.count - count,
            "ce_hourly_requests_by_level": ", ".join(per_level),
            "ce_hourly_effective_cost": round(float(effective), 6),
        }


def _drill_down(requests: _Requests, levels: list[list[_Key]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The line-item rows of the level-by-level plan, and the request count per level."""
    rows: list[dict[str, Any]] = []
    per_level: list[str] = []
    above: list[_Key] = []  # keys of the levels already drilled
    frontier = [_Node(values=())]
    for depth, keys in enumerate(levels):
        label = " x ".join(key.label() for key in keys)
        conditions = {id(node): _condition(above, node.values) for node in frontier}
        # A node no filter can select stays whole (a remainder); an all-zero one has nothing to split.
        queried = {
            id(node) for node in frontier
            if not node.values or (conditions[id(node)] is not None and not node.is_zero())
        }
        requests.reserve(len(queried), f"level {depth + 1} ({label})")
        before = requests.count
        children: dict[tuple, _Node] = {}
        for node in frontier:
            returned: dict[str, _DayAmounts] = {}
            if id(node) in queried:
                entries = requests.get(keys, conditions[id(node)], METRICS)
                for number, entry, group in _groups(entries):
                    period = entry["TimePeriod"]["Start"]  # a day, or an hour at HOURLY
                    values = node.values + tuple(key.parse(k) for key, k in zip(keys, group["Keys"]))
                    metrics = group.get("Metrics", {})
                    estimated = bool(entry.get("Estimated", False))
                    returned.setdefault(period, _DayAmounts()).add(metrics)
                    if depth == len(levels) - 1:
                        ref = (f"cost_explorer request {number} {_period_label(period)} group {group['Keys']} "
                               f"within {_describe(above, node.values)}")
                        rows.append(_row(above + keys, values, period, metrics, estimated, ref))
                    else:
                        children.setdefault(values, _Node(values)).add(period, metrics, estimated, number)
            if node.values:
                rows.extend(_remainders(above, node, returned))
        per_level.append(f"{label} {requests.count - before}")
        above = above + keys
        frontier = sorted(children.values(), key=_Node.sort_key)
    return rows, per_level


def _condition(keys: list[_Key], values: tuple[str | None, ...]) -> dict[str, Any] | None:
    conditions = [key.condition(value) for key, value in zip(keys, values)]
    if not conditions or any(c is None for c in conditions):
        return None
    return conditions[0] if len(conditions) == 1 else {"And": conditions}


def _groups(entries: list[tuple[int, dict[str, Any]]]):
    for number, entry in entries:
        for group in entry.get("Groups") or []:
            yield number, entry, group


def _period_label(period: str) -> str:
    return f"hour {period}" if "T" in period else f"day {period}"


def _blank_row(period: str) -> dict[str, Any]:
    """A row for a DAILY period (`2026-01-05`) or an HOURLY one (`2026-01-05T13:00:00Z`)."""
    if "T" in period:
        start = dt.datetime.fromisoformat(period.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
        span = dt.timedelta(hours=1)
    else:
        start = dt.datetime.combine(dt.date.fromisoformat(period), dt.time(), tzinfo=dt.timezone.utc)
        span = dt.timedelta(days=1)
    return {
        "charge_period_start": start,
        "charge_period_end": start + span,
        "provider": PROVIDER,
        "account_id": "",
        "aws_service": "",
        "charge_category": "",
        **{column: None for column in TAG_COLUMN.values()},
        "usage_unit": "",
        "invoice_id": "",  # Cost Explorer has no invoice ids
        "resource_id": "",
    }


def _row(keys: list[_Key], values: tuple[str | None, ...], day: str, metrics: dict[str, Any],
         estimated: bool, ref: str) -> dict[str, Any]:
    row = _blank_row(day)
    for key, value in zip(keys, values):
        row[key.column] = value if key.type == "TAG" else (value or "")
    usage = metrics.get(USAGE_METRIC) or {}
    row.update(
        effective_cost=(metrics.get(EFFECTIVE_METRIC) or {}).get("Amount"),
        billed_cost=(metrics.get(BILLED_METRIC) or {}).get("Amount"),
        usage_quantity=usage.get("Amount"),
        usage_unit=usage.get("Unit") or "",
        is_estimated=estimated,
        row_ref=ref,
    )
    return row


def _remainders(keys: list[_Key], node: _Node, returned: dict[str, _DayAmounts]) -> list[dict[str, Any]]:
    """Rows for what `node`'s own request did not break down, per day."""
    rows = []
    for day, amounts in sorted(node.days.items()):
        got = returned.get(day, _DayAmounts()).amounts
        if any(amounts.amounts[m] is None or got[m] is None for m in METRICS):
            continue  # garbled: nothing to subtract from; the independent day totals still catch a loss
        rest = {m: amounts.amounts[m] - got[m] for m in METRICS}
        if all(abs(rest[m]) < REMAINDER_TOLERANCE for m in METRICS):
            continue
        metrics = {m: {"Amount": str(rest[m]), "Unit": amounts.unit if m == USAGE_METRIC else "USD"} for m in METRICS}
        ref = (f"cost_explorer request {amounts.request} {_period_label(day)} remainder not broken down further "
               f"within {_describe(keys, node.values)}")
        rows.append(_row(keys, node.values, day, metrics, amounts.estimated, ref))
    return rows


def _day_totals(requests: _Requests) -> pd.DataFrame:
    """Per-day totals from the ungrouped request, independent of the breakdown."""
    totals: dict[dt.date, dict[str, float]] = {}
    for number, entry in requests.get([], None, TOTAL_METRICS):
        day = entry["TimePeriod"]["Start"]
        total = entry.get("Total") or {}
        sums = totals.setdefault(dt.date.fromisoformat(day), {"billed_cost": 0.0, "effective_cost": 0.0})
        for column, metric in (("billed_cost", BILLED_METRIC), ("effective_cost", EFFECTIVE_METRIC)):
            amount = _decimal(total, metric)
            if amount is None and metric in total:
                raise BadCostDataError(
                    f"cost_explorer request {number} day {day} total: {metric} is not a number: {total[metric]!r}"
                )
            sums[column] += float(amount or ZERO)
    return pd.DataFrame(
        [{"date": day, **sums} for day, sums in sorted(totals.items())],
        columns=["date", "billed_cost", "effective_cost"],
    )
