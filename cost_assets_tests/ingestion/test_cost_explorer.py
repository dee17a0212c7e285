"""The cost_explorer source against moto's Cost Explorer, botocore's Stubber and
an in-memory Cost Explorer that filters and groups like the real one."""

from __future__ import annotations

import datetime as dt
import json
import random
import urllib.request
from collections import defaultdict
from decimal import Decimal

import pandas as pd
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from cost_assets.ingestion import checks
from cost_assets.ingestion.line_items import LINE_ITEM_COLUMNS, prepare_line_items, to_daily_costs, totals_by_day
from cost_assets.ingestion.sources import get_source
from cost_assets.ingestion.sources.cost_explorer import (
    MAX_RETRIES,
    CostExplorerError,
    CostExplorerSource,
    RequestCapExceeded,
    make_client,
)
from cost_assets.rules import load_rules
from cost_assets.settings import SettingError

D1, D2 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)
EC2 = "Amazon Elastic Compute Cloud - Compute"
S3 = "Amazon Simple Storage Service"
DAILY_COSTS_COLUMNS = {
    "date", "provider", "account_id", "aws_service", "charge_category", "team", "service", "customer_id",
    "environment", "billed_cost", "effective_cost", "usage_quantity", "usage_unit", "is_estimated", "source",
}


# --- canned Cost Explorer answers ---------------------------------------------

def metrics(amortized, unblended=None, usage="0", unit="N/A"):
    unblended = amortized if unblended is None else unblended
    return {
        "AmortizedCost": {"Amount": str(amortized), "Unit": "USD"},
        "UnblendedCost": {"Amount": str(unblended), "Unit": "USD"},
        "UsageQuantity": {"Amount": str(usage), "Unit": unit},
    }


def day(date, groups=(), estimated=False, total=None):
    entry = {
        "TimePeriod": {"Start": date.isoformat(), "End": (date + dt.timedelta(days=1)).isoformat()},
        "Total": total or {},
        "Groups": [{"Keys": list(keys), "Metrics": m} for keys, m in groups],
        "Estimated": estimated,
    }
    return entry


def answer(*days, token=None):
    result = {"ResultsByTime": list(days), "DimensionValueAttributes": []}
    if token:
        result["NextPageToken"] = token
    return result


# --- moto ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake credentials and no region; nothing from the developer's ~/.aws."""
    for name in ["AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CE",
                 "AWS_SESSION_TOKEN", "COST_CE_MAX_REQUESTS", "COST_ALLOCATION_RULES"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def _post(url: str, payload: dict | None = None) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(payload or {}).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request) as response:
        return response.status


@pytest.fixture
def moto_ce(moto_server, aws_env):
    """moto's Cost Explorer reached through AWS_ENDPOINT_URL; returns a function queueing answers.

    moto hands queued answers out in order, one per distinct request body, so
    the queue must follow the source's request order exactly.
    """
    _post(f"{moto_server}/moto-api/reset")  # moto's backends are process-global
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server)

    def queue(*results):
        assert _post(f"{moto_server}/moto-api/static/ce/cost-and-usage-results", {"results": list(results)}) == 201

    return queue


def record_calls(client) -> list[dict]:
    calls: list[dict] = []
    client.meta.events.register(
        "provide-client-params.ce.GetCostAndUsage", lambda params, **_: calls.append(json.loads(json.dumps(params)))
    )
    return calls


def two_day_answers():
    """Usage and a credit over two days (the second estimated), in the source's request order."""
    d2 = dict(estimated=True)
    return [
        # 1: totals, no GroupBy
        answer(day(D1, total=metrics("14.00", "16.00")), day(D2, total=metrics("12.00", "12.00"), **d2)),
        # 2-3: RECORD_TYPE, over two pages
        answer(day(D1, [(["Usage"], metrics("17.00", "19.00", "30")), (["Credit"], metrics("-3.00"))]),
               token="page-2"),
        answer(day(D2, [(["Usage"], metrics("12.00", "12.00", "25"))], **d2)),
        # 4: LINKED_ACCOUNT x environment within Credit
        answer(day(D1, [(["111122223333", "environment$"], metrics("-3.00"))]), day(D2, [], **d2)),
        # 5: ... within Usage
        answer(day(D1, [(["111122223333", "environment$prod"], metrics("15.00", "17.00", "29")),
                        (["111122223333", "environment$"], metrics("2.00", "2.00", "1"))]),
               day(D2, [(["111122223333", "environment$prod"], metrics("11.00", "11.00", "24")),
                        (["111122223333", "environment$"], metrics("1.00", "1.00", "1"))], **d2)),
        # 6: team x service within Credit / 111122223333 / untagged environment
        answer(day(D1, [(["team$", "service$"], metrics("-3.00"))]), day(D2, [], **d2)),
        # 7: ... within Usage / 111122223333 / prod
        answer(day(D1, [(["team$platform", "service$api"], metrics("15.00", "17.00", "29"))]),
               day(D2, [(["team$platform", "service$api"], metrics("11.00", "11.00", "24"))], **d2)),
        # 8: ... within Usage / 111122223333 / untagged environment
        answer(day(D1, [(["team$", "service$"], metrics("2.00", "2.00", "1"))]),
               day(D2, [(["team$", "service$"], metrics("1.00", "1.00", "1"))], **d2)),
        # 9: SERVICE x customer within Credit / ... / untagged
        answer(day(D1, [([EC2, "customer$"], metrics("-3.00"))]), day(D2, [], **d2)),
        # 10: ... within Usage / 111122223333 / prod / platform / api
        answer(day(D1, [([EC2, "customer$acme"], metrics("10.00", "12.00", "24", "Hrs")),
                        ([EC2, "customer$"], metrics("5.00", "5.00", "5", "Hrs"))]),
               day(D2, [([EC2, "customer$acme"], metrics("11.00", "11.00", "24", "Hrs"))], **d2)),
        # 11: ... within Usage / 111122223333 / untagged everything
        answer(day(D1, [([S3, "customer$"], metrics("2.00", "2.00", "1", "GB-Mo"))]),
               day(D2, [([S3, "customer$"], metrics("1.00", "1.00", "1", "GB-Mo"))], **d2)),
    ]


def test_moto_multi_request_plan_gives_the_joint_breakdown(moto_ce):
    moto_ce(*two_day_answers())
    source = get_source("cost_explorer")
    assert source.client.meta.region_name == "us-east-1"  # no region configured
    calls = record_calls(source.client)

    result = source.fetch(D1, D2, load_rules())

    # Requests: totals, 2 pages of RECORD_TYPE, then one per combination per level.
    assert len(calls) == 11
    assert result.metadata["ce_requests"] == 11
    assert result.metadata["ce_estimated_cost_usd"] == pytest.approx(0.11)
    assert result.metadata["ce_remainder_rows"] == 0
    assert all(len(call.get("GroupBy", [])) <= 2 for call in calls)
    assert all(call["TimePeriod"] == {"Start": "2026-01-05", "End": "2026-01-07"} for call in calls)
    assert all(call["Granularity"] == "DAILY" for call in calls)
    assert "GroupBy" not in calls[0] and "Filter" not in calls[0]
    assert calls[2]["NextPageToken"] == "page-2" and calls[2]["GroupBy"] == calls[1]["GroupBy"]
    assert [g["Key"] for g in calls[9]["GroupBy"]] == ["SERVICE", "customer"]
    assert calls[9]["Filter"] == {"And": [
        {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}},
        {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["111122223333"]}},
        {"Tags": {"Key": "environment", "Values": ["prod"], "MatchOptions": ["EQUALS"]}},
        {"Tags": {"Key": "team", "Values": ["platform"], "MatchOptions": ["EQUALS"]}},
        {"Tags": {"Key": "service", "Values": ["api"], "MatchOptions": ["EQUALS"]}},
    ]}
    assert {"Tags": {"Key": "environment", "MatchOptions": ["ABSENT"]}} in calls[10]["Filter"]["And"]

    items = result.line_items
    assert list(items.columns) == LINE_ITEM_COLUMNS
    assert len(items) == 6
    acme = items[items["customer_id"] == "acme"].sort_values("charge_period_start")
    assert acme[["charge_category", "account_id", "environment", "team", "service", "aws_service"]].drop_duplicates() \
        .values.tolist() == [["Usage", "111122223333", "prod", "platform", "api", EC2]]
    assert acme["is_estimated"].tolist() == [False, True]
    assert acme["usage_unit"].tolist() == ["Hrs", "Hrs"]
    assert acme["charge_period_start"].iloc[0] == pd.Timestamp("2026-01-05", tz="UTC")
    assert acme["charge_period_end"].iloc[0] == pd.Timestamp("2026-01-06", tz="UTC")
    assert acme["row_ref"].iloc[0].startswith("cost_explorer request 10 day 2026-01-05 group")
    credit = items[items["charge_category"] == "Credit"]
    assert credit[["aws_service", "effective_cost"]].values.tolist() == [[EC2, "-3.00"]]
    assert credit[["team", "service", "customer_id", "environment"]].isna().all(axis=None)  # `key$` is untagged
    assert (items["provider"] == "AWS").all() and (items["resource_id"] == "").all()

    # The breakdown adds up to the independent ungrouped totals.
    assert result.day_totals.to_dict("records") == [
        {"date": D1, "billed_cost": 16.0, "effective_cost": 14.0},
        {"date": D2, "billed_cost": 12.0, "effective_cost": 12.0},
    ]
    prepared = prepare_line_items(items, load_rules())
    assert checks.total_mismatches(totals_by_day(prepared), result.day_totals).empty


def test_moto_output_goes_through_prepare_and_to_daily_costs(moto_ce):
    moto_ce(*two_day_answers())
    result = get_source("cost_explorer").fetch(D1, D2, load_rules())

    prepared = prepare_line_items(result.line_items, load_rules())
    daily = to_daily_costs(prepared, "cost_explorer")

    assert DAILY_COSTS_COLUMNS <= set(daily.columns)
    assert daily[list(DAILY_COSTS_COLUMNS)].notna().all(axis=None)
    assert sorted(daily["charge_category"].unique()) == ["Credit", "Usage"]
    assert set(daily["environment"]) == {"production", "untagged"}  # prod aliased by the rules file
    assert daily.loc[daily["date"] == D2, "is_estimated"].all()
    assert not daily.loc[daily["date"] == D1, "is_estimated"].any()
    by_day = daily.groupby("date")[["billed_cost", "effective_cost"]].sum().round(6).reset_index()
    assert checks.total_mismatches(by_day, result.day_totals).empty
    assert by_day["effective_cost"].tolist() == [14.0, 12.0]


def test_moto_paging_follows_next_page_token_and_remainders_keep_unbroken_cost(moto_ce):
    """One day; the last level's answer comes in two pages, and together they
    fall $3 short of their team x service group (say a tag present with an
    empty value, which ABSENT does not match)."""
    moto_ce(
        answer(day(D1, total=metrics("10.00"))),
        answer(day(D1, [(["Usage"], metrics("10.00", usage="3"))])),
        answer(day(D1, [(["111122223333", "environment$prod"], metrics("10.00", usage="3"))])),
        answer(day(D1, [(["team$core", "service$"], metrics("10.00", usage="3"))])),
        answer(day(D1, [([EC2, "customer$"], metrics("6.00", usage="2"))]), token="t2"),
        answer(day(D1, [([S3, "customer$cust-001"], metrics("1.00", usage="1"))])),
    )
    source = get_source("cost_explorer")
    calls = record_calls(source.client)

    result = source.fetch(D1, D1, load_rules())

    assert len(calls) == result.metadata["ce_requests"] == 6
    assert [c.get("NextPageToken") for c in calls] == [None, None, None, None, None, "t2"]
    assert calls[5]["Filter"] == calls[4]["Filter"] and calls[5]["GroupBy"] == calls[4]["GroupBy"]
    items = result.line_items
    assert len(items) == 3
    assert items.loc[items["aws_service"] == S3, "row_ref"].iloc[0].startswith("cost_explorer request 6 day 2026-01-05")
    remainder = items[items["row_ref"].str.contains("remainder")].iloc[0]
    assert Decimal(remainder["effective_cost"]) == Decimal("3.00")
    assert (remainder["team"], remainder["service"], remainder["aws_service"]) == ("core", None, "")
    assert remainder["row_ref"].startswith("cost_explorer request 4 day 2026-01-05 remainder")
    assert result.metadata["ce_remainder_rows"] == 1
    assert result.metadata["ce_remainder_effective_cost"] == pytest.approx(3.0)
    prepared = prepare_line_items(items, load_rules())
    assert checks.total_mismatches(totals_by_day(prepared), result.day_totals).empty


def test_throttled_call_is_retried_by_botocore_and_then_succeeds(moto_ce):
    """A real LimitExceededException answer (injected before send) goes through
    botocore's adaptive retry handler; the source sees only the success."""
    moto_ce(answer(day(D1, total=metrics("1.00"))), answer(day(D1, [])))
    source = get_source("cost_explorer")
    sent = []

    class Body:
        def stream(self, **_):
            yield json.dumps({"__type": "LimitExceededException", "message": "Rate exceeded"}).encode()

    def throttle_first(request, **_):
        sent.append(request.url)
        if len(sent) == 1:
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, Body())
        return None

    source.client.meta.events.register("before-send.ce.GetCostAndUsage", throttle_first)
    result = source.fetch(D1, D1, load_rules())

    assert len(sent) == 3  # throttled + retried totals, then level 1
    assert result.metadata["ce_requests"] == 2
    assert result.day_totals["effective_cost"].tolist() == [1.0]


# --- Stubber ------------------------------------------------------------------

@pytest.fixture
def stubbed(aws_env):
    client = make_client()
    with Stubber(client) as stubber:
        yield client, stubber


def test_client_uses_adaptive_retries_and_defaults_to_us_east_1(aws_env):
    client = make_client()
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.config.retries["total_max_attempts"] == MAX_RETRIES + 1  # botocore: retries + first call
    assert client.meta.endpoint_url == "https://ce.us-east-1.amazonaws.com"

    class SpySession:
        def __init__(self, region_name):
            self.region_name, self.kwargs = region_name, {}

        def client(self, service, **kwargs):
            self.kwargs = dict(kwargs, service=service)

    unset, configured = SpySession(None), SpySession("eu-west-1")
    make_client(unset)
    make_client(configured)
    assert unset.kwargs["region_name"] == "us-east-1"
    assert configured.kwargs["region_name"] == "eu-west-1"  # boto3's chain wins when it names a region
    assert unset.kwargs["service"] == "ce"


def test_validation_exception_names_the_group_by(stubbed):
    client, stubber = stubbed
    stubber.add_response("get_cost_and_usage", answer(day(D1, total=metrics("1.00"))))
    stubber.add_client_error("get_cost_and_usage", "ValidationException",
                             "Only two values for GroupBy are allowed", http_status_code=400)

    with pytest.raises(CostExplorerError) as error:
        CostExplorerSource(client).fetch(D1, D1, load_rules())

    message = str(error.value)
    assert "ValidationException" in message and "Only two values for GroupBy are allowed" in message
    assert "request 2 (GroupBy DIMENSION RECORD_TYPE; Filter none)" in message
    assert "2026-01-05" in message


def test_data_unavailable_names_the_days(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("get_cost_and_usage", "DataUnavailableException", "Data is not available",
                             http_status_code=400)

    with pytest.raises(CostExplorerError, match=r"no data for the day\(s\) requested, 2026-01-05\.\.2026-01-06"):
        CostExplorerSource(client).fetch(D1, D2, load_rules())


def test_throttling_after_retries_are_exhausted_is_a_clear_error(stubbed):
    # Stubber answers before botocore's retry handler runs: this is the error the
    # source sees once adaptive retries give up.
    client, stubber = stubbed
    stubber.add_client_error("get_cost_and_usage", "LimitExceededException", "Rate exceeded", http_status_code=400)

    with pytest.raises(CostExplorerError) as error:
        CostExplorerSource(client).fetch(D1, D1, load_rules())

    message = str(error.value)
    assert "LimitExceededException" in message and f"{MAX_RETRIES} adaptive retries" in message
    assert "2026-01-05" in message


def test_request_cap_stops_before_a_level_that_would_pass_it(stubbed):
    client, stubber = stubbed
    stubber.add_response("get_cost_and_usage", answer(day(D1, total=metrics("6.00"))))
    stubber.add_response("get_cost_and_usage", answer(day(D1, [
        (["Usage"], metrics("5.00")), (["Tax"], metrics("0.50")), (["Credit"], metrics("0.50"))])))

    with pytest.raises(RequestCapExceeded, match="COST_CE_MAX_REQUESTS=4") as error:
        CostExplorerSource(client, max_requests=4).fetch(D1, D1, load_rules())

    assert "needs 3 more request(s) for level 2" in str(error.value)
    stubber.assert_no_pending_responses()  # exactly the two stubbed calls were made


def test_request_cap_counts_pages(stubbed):
    client, stubber = stubbed
    stubber.add_response("get_cost_and_usage", answer(day(D1, total=metrics("6.00")), token="more"))

    with pytest.raises(RequestCapExceeded, match="COST_CE_MAX_REQUESTS=1"):
        CostExplorerSource(client, max_requests=1).fetch(D1, D1, load_rules())
    stubber.assert_no_pending_responses()


def test_max_requests_setting(aws_env):
    assert CostExplorerSource.from_settings().max_requests == 200
    aws_env.setenv("COST_CE_MAX_REQUESTS", "25")
    assert CostExplorerSource.from_settings().max_requests == 25
    aws_env.setenv("COST_CE_MAX_REQUESTS", "lots")
    with pytest.raises(SettingError, match="COST_CE_MAX_REQUESTS"):
        CostExplorerSource.from_settings()
    aws_env.setenv("COST_CE_MAX_REQUESTS", "0")
    with pytest.raises(SettingError, match="COST_CE_MAX_REQUESTS"):
        CostExplorerSource.from_settings()


# --- an in-memory Cost Explorer -------------------------------------------------

TAGS = ("environment", "team", "service", "customer")


class FakeCostExplorer:
    """Answers GetCostAndUsage from line facts the way Cost Explorer filters,
    groups (`key$value`, `key$` for absent or empty) and pages."""

    def __init__(self, facts, page_days=31, estimated=()):
        self.facts, self.page_days, self.estimated = facts, page_days, set(estimated)
        self.calls: list[dict] = []

    def _matches(self, expression, fact) -> bool:
        if expression is None:
            return True
        if "And" in expression:
            return all(self._matches(e, fact) for e in expression["And"])
        if "Dimensions" in expression:
            return fact[expression["Dimensions"]["Key"]] in expression["Dimensions"]["Values"]
        tag = expression["Tags"]
        if "ABSENT" in tag.get("MatchOptions", []):
            return fact["tags"].get(tag["Key"]) is None  # an empty value is present, not absent
        return fact["tags"].get(tag["Key"]) in tag["Values"]

    @staticmethod
    def _group_key(group, fact) -> str:
        if group["Type"] == "DIMENSION":
            return fact[group["Key"]]
        return f"{group['Key']}${fact['tags'].get(group['Key']) or ''}"

    def get_cost_and_usage(self, **params):
        self.calls.append(params)
        group_by = params.get("GroupBy", [])
        if len(group_by) > 2:
            raise ClientError({"Error": {"Code": "ValidationException",
                                         "Message": "Only two values for GroupBy are allowed"}}, "GetCostAndUsage")
        start = dt.date.fromisoformat(params["TimePeriod"]["Start"])
        end = dt.date.fromisoformat(params["TimePeriod"]["End"])
        days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
        page = int(params.get("NextPageToken", "0"))
        chunk = days[page * self.page_days:(page + 1) * self.page_days]
        entries = []
        for date in chunk:
            sums: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
            for fact in self.facts:
                if fact["day"] == date and self._matches(params.get("Filter"), fact):
                    key = tuple(self._group_key(g, fact) for g in group_by)
                    for i, metric in enumerate(("amortized", "unblended", "usage")):
                        sums[key][i] += fact[metric]
            if group_by:
                groups = [(list(k), metrics(*v)) for k, v in sorted(sums.items())]
                entries.append(day(date, groups, estimated=date in self.estimated))
            else:
                entries.append(day(date, total=metrics(*sums[()]), estimated=date in self.estimated))
        more = (page + 1) * self.page_days < len(days)
        return answer(*entries, token=str(page + 1) if more else None)


def random_facts(seed: int, days: list[dt.date], count: int = 120) -> list[dict]:
    rng = random.Random(seed)
    facts = []
    for _ in range(count):
        record_type = rng.choice(["Usage"] * 6 + ["Credit", "Tax", "SavingsPlanCoveredUsage"])
        cents = Decimal(rng.randint(1, 5000)) / 100
        amount = -cents if record_type == "Credit" else cents
        facts.append({
            "day": rng.choice(days),
            "RECORD_TYPE": record_type,
            "LINKED_ACCOUNT": rng.choice(["111111111111", "222222222222"]),
            "SERVICE": rng.choice([EC2, S3, "Amazon Relational Database Service", "AWS Lambda"]),
            "tags": {k: v for k, v in {
                "environment": rng.choice(["prod", "staging", None]),
                "team": rng.choice(["core", "data", None]),
                "service": rng.choice(["api", "worker", "shared-db", None]),
                "customer": rng.choice([None, None, "cust-001", "cust-002", "cust-003"]),
            }.items() if v is not None},
            "amortized": amount,
            "unblended": amount * Decimal("1.1"),
            "usage": Decimal(rng.randint(0, 100)),
        })
    return facts


def _joint(facts) -> dict[tuple, Decimal]:
    joint: dict[tuple, Decimal] = defaultdict(Decimal)
    for f in facts:
        key = (f["day"], f["RECORD_TYPE"], f["LINKED_ACCOUNT"], f["SERVICE"],
               *(f["tags"].get(t) or None for t in TAGS))
        joint[key] += f["amortized"]
    return dict(joint)


def _combinations(facts, names) -> int:
    def value(f, name):
        return f[name] if name.isupper() else (f["tags"].get(name) or None)
    return len({tuple(value(f, n) for n in names) for f in facts})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plan_reproduces_the_joint_breakdown_with_the_predicted_request_count(seed, aws_env):
    days = [D1, D2, D2 + dt.timedelta(days=1)]
    facts = random_facts(seed, days)
    fake = FakeCostExplorer(facts, estimated=[days[-1]])

    result = CostExplorerSource(fake, max_requests=1000).fetch(days[0], days[-1], load_rules())

    levels = ["RECORD_TYPE", "LINKED_ACCOUNT", "environment", "team", "service"]
    expected_requests = 2 + sum(_combinations(facts, levels[:n]) for n in (1, 3, 5))
    assert result.metadata["ce_requests"] == len(fake.calls) == expected_requests
    assert all(len(call.get("GroupBy", [])) <= 2 for call in fake.calls)
    items = result.line_items
    got = defaultdict(Decimal)
    for row in items.itertuples():
        key = (row.charge_period_start.date(), row.charge_category, row.account_id, row.aws_service,
               row.environment, row.team, row.service, row.customer_id)
        got[key] += Decimal(row.effective_cost)
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in _joint(facts).items() if v}
    assert result.metadata["ce_remainder_rows"] == 0
    assert items.loc[items["charge_period_start"].dt.date == days[-1], "is_estimated"].all()
    prepared = prepare_line_items(items, load_rules())
    assert checks.total_mismatches(totals_by_day(prepared), result.day_totals).empty


def test_empty_tag_values_end_up_as_remainders_and_totals_still_reconcile(aws_env):
    facts = random_facts(7, [D1, D2])
    for fact in facts[:10]:
        fact["tags"]["team"] = ""  # grouped as `team$` but not matched by ABSENT
    fake = FakeCostExplorer(facts, page_days=1)

    result = CostExplorerSource(fake, max_requests=1000).fetch(D1, D2, load_rules())

    assert any(call.get("NextPageToken") for call in fake.calls)
    assert result.metadata["ce_remainder_rows"] > 0
    remainders = result.line_items[result.line_items["row_ref"].str.contains("remainder")]
    assert (remainders["aws_service"] == "").all() and remainders["customer_id"].isna().all()
    expected = sum(f["amortized"] for f in facts[:10])
    assert sum(Decimal(v) for v in remainders["effective_cost"]) == expected
    prepared = prepare_line_items(result.line_items, load_rules())
    assert checks.total_mismatches(totals_by_day(prepared), result.day_totals).empty
    assert totals_by_day(prepared)["effective_cost"].sum() == pytest.approx(float(sum(f["amortized"] for f in facts)))


# --- HOURLY granularity (COST_CE_HOURLY) -------------------------------------------

TODAY = D2 + dt.timedelta(days=1)  # D1 lies within Cost Explorer's last 14 days of hourly data
STAGING = "222222222222"
OFF_HOUR_RATE, WORK_HOUR_RATE = "2.00", "0.50"  # D1 is a Monday: 12 off-hours x $2 + 12 working x $0.50 = $30


def hour_entry(start: dt.datetime, groups=(), estimated=False):
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "TimePeriod": {"Start": start.strftime(stamp), "End": (start + dt.timedelta(hours=1)).strftime(stamp)},
        "Total": {},
        "Groups": [{"Keys": list(keys), "Metrics": m} for keys, m in groups],
        "Estimated": estimated,
    }


def _hourly_answer(keys, unit="N/A"):
    entries = []
    for h in range(24):
        rate = WORK_HOUR_RATE if 8 <= h < 20 else OFF_HOUR_RATE
        entries.append(hour_entry(dt.datetime(D1.year, D1.month, D1.day, h), [(keys, metrics(rate, usage="1", unit=unit))]))
    return answer(*entries)


def one_day_daily_answers():
    """D1: $30 of staging EC2, the DAILY plan in the source's request order."""
    return [
        answer(day(D1, total=metrics("30.00"))),
        answer(day(D1, [(["Usage"], metrics("30.00", usage="24"))])),
        answer(day(D1, [([STAGING, "environment$staging"], metrics("30.00", usage="24"))])),
        answer(day(D1, [(["team$core", "service$api"], metrics("30.00", usage="24"))])),
        answer(day(D1, [([EC2, "customer$"], metrics("30.00", usage="24", unit="Hrs"))])),
    ]


def one_day_hourly_answers():
    """The same $30 hour by hour: the HOURLY plan (no totals request)."""
    return [
        _hourly_answer(["Usage"]),
        _hourly_answer([STAGING, "environment$staging"]),
        _hourly_answer(["team$core", "service$api"]),
        _hourly_answer([EC2, "customer$"], unit="Hrs"),
    ]


def refuse_hourly(client, code: str, message: str) -> list[str]:
    """Answer every HOURLY request with a real AWS error (before it is sent, like the throttling test)."""
    refused = []

    class Body:
        def stream(self, **_):
            yield json.dumps({"__type": code, "message": message}).encode()

    def refuse(request, **_):
        if b'"HOURLY"' in request.body:
            refused.append(code)
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, Body())
        return None

    client.meta.events.register("before-send.ce.GetCostAndUsage", refuse)
    return refused


def test_hourly_setting(aws_env):
    assert CostExplorerSource.from_settings().hourly is False
    aws_env.setenv("COST_CE_HOURLY", "1")
    assert CostExplorerSource.from_settings().hourly is True
    aws_env.setenv("COST_CE_HOURLY", "perhaps")
    with pytest.raises(SettingError, match="COST_CE_HOURLY='perhaps'"):
        CostExplorerSource.from_settings()


def test_moto_hourly_path_fetches_hourly_rows_beside_the_daily_ones(moto_ce):
    moto_ce(*one_day_daily_answers(), *one_day_hourly_answers())
    source = CostExplorerSource(make_client(), hourly=True, today=TODAY)
    calls = record_calls(source.client)

    result = source.fetch(D1, D1, load_rules())

    assert [c["Granularity"] for c in calls] == ["DAILY"] * 5 + ["HOURLY"] * 4
    assert all(c["TimePeriod"] == {"Start": "2026-01-05T00:00:00Z", "End": "2026-01-06T00:00:00Z"} for c in calls[5:])
    assert all(len(c.get("GroupBy", [])) <= 2 for c in calls)
    assert calls[8]["Filter"] == calls[4]["Filter"]  # the same drill-down, hour by hour
    assert result.metadata["ce_requests"] == 9 and result.metadata["ce_hourly_requests"] == 4
    assert result.metadata["ce_estimated_cost_usd"] == pytest.approx(0.09)
    assert result.metadata["ce_hourly"] == "fetched 2026-01-05 (24 hourly line items)"
    assert result.metadata["ce_hourly_effective_cost"] == pytest.approx(30.0)
    assert result.hourly_days == [D1]

    # daily_costs still come from DAILY alone: one $30 row, matching the ungrouped total.
    prepared = prepare_line_items(result.line_items, load_rules())
    assert to_daily_costs(prepared, "cost_explorer")["effective_cost"].tolist() == [30.0]
    assert checks.total_mismatches(totals_by_day(prepared), result.day_totals).empty
    # The hourly rows: 24 one-hour periods that add up to the same $30.
    hourly = prepare_line_items(result.hourly_line_items, load_rules()).sort_values("hour_start")
    assert len(hourly) == 24 and hourly["effective_cost"].sum() == pytest.approx(30.0)
    assert (hourly["charge_period_end"] - hourly["charge_period_start"] == pd.Timedelta(hours=1)).all()
    assert hourly["hour_start"].iloc[0] == pd.Timestamp("2026-01-05 00:00")
    assert hourly["hour_start"].iloc[-1] == pd.Timestamp("2026-01-05 23:00")
    assert hourly[["environment", "team", "service", "aws_service", "usage_unit"]].drop_duplicates().values.tolist() \
        == [["staging", "core", "api", EC2, "Hrs"]]
    assert hourly["row_ref"].iloc[0].startswith("cost_explorer request 9 hour 2026-01-05T00:00:00Z group")


@pytest.mark.parametrize("code, message", [
    # Reported by users while hourly data was opt-in only (2019); AWS documents no exact text.
    ("AccessDeniedException", "HOURLY data is not publicly supported yet, please reach out to customer service "
                              "to opt in for private Beta."),
    ("DataUnavailableException", "Data is not available. Please try to adjust the time period."),
    ("ValidationException", "Start date is more than 14 days ago for hourly granularity. Please adjust start date "
                            "as we support only 14 days of data at hourly granularity."),
])
def test_moto_hourly_not_enabled_keeps_the_daily_data_and_says_so(moto_ce, code, message):
    moto_ce(*one_day_daily_answers())
    source = CostExplorerSource(make_client(), hourly=True, today=TODAY)
    refused = refuse_hourly(source.client, code, message)

    result = source.fetch(D1, D1, load_rules())

    assert refused == [code]  # the first HOURLY request; no retry, no further HOURLY request
    assert result.hourly_line_items is None and result.hourly_days == []
    note = result.metadata["ce_hourly"]
    assert note.startswith("not available: Cost Explorer has no hourly data for 2026-01-05 at HOURLY granularity")
    assert code in note and message in note and "Cost Management preferences" in note
    assert result.metadata["ce_requests"] == 6 and result.metadata["ce_hourly_requests"] == 1
    assert result.day_totals["effective_cost"].tolist() == [30.0]
    assert len(result.line_items) == 1


def test_moto_other_hourly_errors_still_fail(moto_ce):
    moto_ce(*one_day_daily_answers())
    source = CostExplorerSource(make_client(), hourly=True, today=TODAY)
    refuse_hourly(source.client, "ValidationException", "Only two values for GroupBy are allowed")

    with pytest.raises(CostExplorerError, match="rejected request 6 .* 2026-01-05 at HOURLY granularity: "
                                                "ValidationException"):
        source.fetch(D1, D1, load_rules())


class HourlyEmptyCostExplorer(FakeCostExplorer):
    """DAILY like FakeCostExplorer; HOURLY answers nothing (so the plan stops at level 1)."""

    def get_cost_and_usage(self, **params):
        if params["Granularity"] == "HOURLY":
            self.calls.append(params)
            return answer()
        return super().get_cost_and_usage(**params)


def test_hourly_asks_only_for_the_days_within_the_last_14(aws_env):
    first, last = dt.date(2025, 12, 1), D2
    fake = HourlyEmptyCostExplorer(random_facts(3, [first, D1, D2]))

    result = CostExplorerSource(fake, max_requests=1000, hourly=True, today=TODAY).fetch(first, last, load_rules())

    hourly_calls = [c for c in fake.calls if c["Granularity"] == "HOURLY"]
    assert [c["TimePeriod"] for c in hourly_calls] == [{"Start": "2025-12-25T00:00:00Z", "End": "2026-01-07T00:00:00Z"}]
    assert result.hourly_days == [dt.date(2025, 12, 25) + dt.timedelta(days=i) for i in range(13)]
    assert result.metadata["ce_hourly"] == "fetched 2025-12-25..2026-01-06 (0 hourly line items)"

    old = CostExplorerSource(HourlyEmptyCostExplorer(random_facts(3, [first])), max_requests=1000, hourly=True,
                             today=TODAY).fetch(first, first, load_rules())
    assert old.hourly_days == [] and old.hourly_line_items is None
    assert "within Cost Explorer's last 14 days" in old.metadata["ce_hourly"]
