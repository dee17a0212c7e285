"""focus_allocated_costs and `focus_export --allocated`: a company built here (a direct customer tag, an
unknown one, usage-proportional splits, a `targets: services` rule, a split by cost, an internal
environment); every origin charge's rows add up to it exactly, customers and methods are the
allocation's, and the export's base columns pass focus-validator 2.2.1."""

import datetime as dt
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cost_assets.allocation.allocation import to_micros
from cost_assets.allocation.assets import cost_allocation, focus_allocated_costs
from cost_assets.allocation.focus_allocated import origin_charges
from cost_assets.allocation.rules import load_allocation_rules
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics, usage_metrics
from cost_assets.ingestion.focus_export import export_focus_costs, main, read_focus_allocated_costs, read_focus_costs, to_export
from cost_assets.resources.schema import FOCUS_BASE_COLUMNS, FOCUS_COST_COLUMNS, FOCUS_QUANTITY_COLUMNS
from cost_assets_tests.allocation.test_staged_allocation_end_to_end import REQUESTS, RULES, usage
from cost_assets_tests.helpers import company_settings, materialize_days, product_database
from cost_assets_tests.ingestion.billing_files import focus_row, write_focus
from cost_assets_tests.ingestion import focus_validator as validator
from cost_assets_tests.ingestion.focus_validator import assert_conforms, validate

DAYS = [dt.date(2026, 4, 1), dt.date(2026, 4, 2)]
focus_validator = validator.focus_validator  # the fixture, asked for on SQLite only


def bill(i: int) -> list[tuple]:
    """Day i's (service, team, environment, customer tag, billed, effective, provider service)."""
    obs = 45.0 + 3 * i
    return [("observability", "platform", "production", None, obs, obs, "Log Analytics"),
            ("shared-db", "data", "production", None, 120.0 + 10 * i, 120.0 + 10 * i, "Azure SQL Database"),
            ("shared-db", "data", "production", None, 9.0, 7.25, "Storage"),  # a second charge of the same pool
            ("api", "core", "production", None, 90.0, 90.0, "Virtual Machines"),
            ("worker", "core", "production", None, 30.0, 30.0, "Virtual Machines"),
            ("api", "core", "production", "c3", 12.0, 12.0, "Virtual Machines"),
            ("api", "core", "production", "c9", 4.0, 4.0, "Virtual Machines"),  # no such customer
            ("ci", "platform", "production", None, 9.0, 9.0, "Virtual Machines"),
            ("api", "core", "staging", None, 5.0, 5.0, "Virtual Machines")]


def company(tmp_path, monkeypatch) -> dict:
    focus = []
    for i, day in enumerate(DAYS):
        for n, (service, team, environment, customer, billed, effective, provider_service) in enumerate(bill(i)):
            tags = {"service": service, "team": team, "environment": environment, **({"customer": customer} if customer else {})}
            focus.append(focus_row(day, billed, effective, tags=tags, resource=f"{service}-{n}", service=provider_service))
    app_db = product_database(
        tmp_path / "app.db", [("c1", "One", 500, "active"), ("c2", "Two", 300, "active"), ("c3", "Three", 200, "active")],
        [(day, *row) for day in DAYS for row in REQUESTS],
        [(day, *row) for i, day in enumerate(DAYS) for row in usage(i)])
    return company_settings(monkeypatch, tmp_path, "focus", write_focus(tmp_path / "focus.csv", focus), RULES, app_db)


def elements(details: str | None) -> list[dict]:
    return json.loads(details)["Elements"] if isinstance(details, str) else []


def test_allocated_rows_add_up_to_each_charge_and_name_the_allocation(warehouse, tmp_path, monkeypatch, request):
    resources = company(tmp_path, monkeypatch)
    result = materialize_days([billing_costs, customer_snapshots, service_metrics, usage_metrics, cost_allocation,
                               focus_allocated_costs], warehouse, DAYS[0], DAYS[-1], **resources)
    assert result.success

    rows = read_focus_allocated_costs(warehouse)
    origin = origin_charges(to_export(read_focus_costs(warehouse)), load_allocation_rules()).set_index("x_OriginChargeId")
    assert len(origin) == len(bill(0)) * len(DAYS) and set(rows["x_OriginChargeId"]) == set(origin.index)
    # Each origin charge's rows add up to it exactly, in every cost and quantity column; its dimensions are the charge's.
    assert origin["PricingQuantity"].notna().all() and (origin["PricingQuantity"] > 0).all()
    for column in [*FOCUS_COST_COLUMNS, *FOCUS_QUANTITY_COLUMNS]:
        sums = rows.assign(m=to_micros(rows[column].astype(float))).groupby("x_OriginChargeId")["m"].sum()
        expected = pd.Series(to_micros(origin[column].astype(float)), index=origin.index)
        assert (sums.sort_index() == expected.sort_index()).all(), column
    for column in ("ServiceName", "x_Service", "x_Team", "ChargePeriodStart", "Tags"):
        assert (rows[column].to_numpy() == origin.loc[rows["x_OriginChargeId"], column].to_numpy()).all(), column
    # Ratios: each charge's AllocatedRatio elements add up to 1 when any part reached a customer.
    rows["ratio"] = [sum(e["AllocatedRatio"] for e in elements(d)) for d in rows["AllocatedMethodDetails"]]
    split = rows[rows.groupby("x_OriginChargeId")["AllocatedMethodId"].transform("count") > 0]
    assert split["AllocatedMethodDetails"].notna().all()
    assert (split.groupby("x_OriginChargeId")["ratio"].sum() - 1).abs().max() < 1e-9
    # Customers' totals are the allocation's, to the cent.
    placed = warehouse.read("SELECT customer_id, SUM(allocated_cost) AS cost FROM customer_cost_allocation GROUP BY customer_id")
    assert (rows.groupby("x_CustomerId")["EffectiveCost"].sum().round(2).to_dict()
            == {r.customer_id: round(float(r.cost), 2) for r in placed.itertuples()})
    unallocated = warehouse.read("SELECT SUM(cost) AS cost FROM unallocated_costs")["cost"].iloc[0]
    assert round(float(rows.loc[rows["x_CustomerId"].isna(), "EffectiveCost"].sum()), 2) == round(float(unallocated), 2)
    assert (rows["x_CustomerId"].isna() == rows["x_UnallocatedReason"].notna()).all()
    assert (rows["x_CustomerId"].fillna("-") == rows["AllocatedResourceId"].fillna("-")).all()

    day0 = rows[rows["ChargePeriodStart"].str.startswith(DAYS[0].isoformat())]

    def of(service, provider_service, customer_tag=None):
        tag = customer_tag or "untagged"
        found = day0[(day0["x_Service"] == service) & (day0["ServiceName"] == provider_service)
                     & day0["Tags"].map(lambda t: json.loads(t)["customer"] == tag)]
        return found.set_index(found["x_CustomerId"].fillna("unallocated"))

    # A direct tag: the whole charge on its customer.
    direct = of("api", "Virtual Machines", "c3")
    assert direct.index.tolist() == ["c3"] and direct["AllocatedMethodId"].tolist() == ["dedicated"]
    assert direct["AllocatedResourceName"].tolist() == ["Three"]
    assert json.loads(direct["AllocatedTags"].iloc[0]) == {"allocation/customer": "c3"}
    assert elements(direct["AllocatedMethodDetails"].iloc[0]) == [{"AllocatedRatio": 1.0, "x_Rule": "dedicated", "x_Stage": 2}]
    unknown = of("api", "Virtual Machines", "c9")
    assert unknown.index.tolist() == ["unallocated"] and unknown["x_UnallocatedReason"].tolist() == ["unknown_customer"]
    assert unknown[["AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId"]].isna().all().all()
    internal = day0[day0["x_Environment"] == "staging"]
    assert internal["x_UnallocatedReason"].tolist() == ["internal"] and internal["EffectiveCost"].tolist() == [5.0]

    # Usage-proportional: both charges of shared-db by db_time_ms, 7000:2000:1000 on day 0.
    for provider_service, cost, billed in (("Azure SQL Database", 120.0, 120.0), ("Storage", 7.25, 9.0)):
        db = of("shared-db", provider_service)
        assert set(db["AllocatedMethodId"]) == {"database"} and set(db.index) == {"c1", "c2", "c3"}
        assert db["EffectiveCost"].round(6).to_dict() == {"c1": round(cost * 0.7, 6), "c2": round(cost * 0.2, 6),
                                                          "c3": round(cost * 0.1, 6)}
        assert round(db["BilledCost"].sum(), 6) == billed
        [element] = elements(db.loc["c1", "AllocatedMethodDetails"])
        assert element["UsageUnit"] == "db_time_ms" and element["UsageQuantity"] == 7000
        assert element["AllocatedRatio"] == pytest.approx(0.7)

    # Staged: observability reaches customers through api, worker and shared-db, under its own rule.
    obs = of("observability", "Log Analytics")
    assert set(obs["AllocatedMethodId"]) == {"observability-to-services"} and set(obs.index) == {"c1", "c2", "c3"}
    vias = {e["x_ViaService"] for d in obs["AllocatedMethodDetails"] for e in elements(d)}
    assert vias == {"api", "worker", "shared-db"}
    hops = warehouse.read("SELECT date, recipient, SUM(cost) AS cost FROM allocation_hops WHERE origin_service = "
                          "'observability' AND recipient_kind = 'customer' GROUP BY date, recipient")
    hops = hops[pd.to_datetime(hops["date"]).dt.date == DAYS[0]]
    assert obs["EffectiveCost"].round(2).to_dict() == {r.recipient: round(float(r.cost), 2) for r in hops.itertuples()}
    assert round(obs["EffectiveCost"].sum(), 6) == 45.0
    ci = of("ci", "Virtual Machines")
    assert set(ci["AllocatedMethodId"]) == {"overhead-by-cost"}
    assert {e["UsageUnit"] for d in ci["AllocatedMethodDetails"] for e in elements(d)} == {"cost"}

    # The export writes the table's rows, Parquet or CSV (the command, on COST_WAREHOUSE_URL).
    parquet, csv = tmp_path / "allocated.parquet", tmp_path / "allocated.csv"
    assert export_focus_costs(warehouse, parquet, allocated=True) == len(rows)
    monkeypatch.setenv("COST_WAREHOUSE_URL", warehouse.url)
    main(["--out", str(csv), "--allocated", "--first", DAYS[0].isoformat(), "--last", DAYS[0].isoformat()])
    table = pq.read_table(parquet)
    assert table.num_rows == len(rows) and {"AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId",
                                            "AllocatedResourceName", "AllocatedTags", "x_CustomerId"} <= set(table.column_names)
    assert str(table.schema.field("ChargePeriodStart").type) == "timestamp[ms, tz=UTC]"
    assert len(pd.read_csv(csv)) == len(day0)

    if warehouse.dialect() == "sqlite":  # the validator once: the file is the same on both databases
        base = tmp_path / "allocated-base.parquet"
        pq.write_table(table.select(FOCUS_BASE_COLUMNS), base)
        assert_conforms(validate(request.getfixturevalue("focus_validator"), base), min_passed=80)


def test_rounding_netting_charges_and_unplaced_reasons_on_the_pure_function():
    """allocate() on the grain, then each charge split back: thirds of odd cents, a pool whose charges net to zero,
    a direct tag, an internal and an untagged charge; every column of every charge adds up exactly."""
    from cost_assets.allocation.allocation import allocate, hop_rows
    from cost_assets.allocation.focus_allocated import focus_allocated_rows
    from cost_assets_tests.allocation.test_allocation import DAY, customers, metrics, rules

    charges = [  # (service, customer tag, environment, effective, billed, quantity)
        ("search", "untagged", "production", 0.5, 0.7, 3.0), ("search", "untagged", "production", 0.5, 0.31, 1.0),
        ("integrations", "untagged", "production", 2.0, 2.0, 1.0), ("integrations", "untagged", "production", -2.0, -2.0, None),
        ("api", "cust-a", "production", 2.5, 2.5, 1.0), ("search", "untagged", "staging", 4.0, 4.0, 1.0),
        ("api", "untagged", "production", 1.25, 1.25, 1.0)]
    origin = pd.DataFrame([{**{c: None for c in FOCUS_BASE_COLUMNS}, "ChargePeriodStart": f"{DAY}T00:00:00Z",
                            "ServiceName": f"provider service {n}", "x_Service": s, "x_Team": "core", "x_CustomerId": t,
                            "x_Environment": e, "x_ChargeCategory": "Usage", "EffectiveCost": eff, "BilledCost": billed,
                            "ListCost": billed, "ContractedCost": billed, "PricingQuantity": q, "ConsumedQuantity": q}
                           for n, (s, t, e, eff, billed, q) in enumerate(charges)])
    allocation_rules = rules()
    grain = origin.rename(columns={"x_Service": "service", "x_Team": "team", "x_CustomerId": "customer_id",
                                   "x_Environment": "environment", "EffectiveCost": "effective_cost"})
    grain = grain.assign(date=DAY).groupby(["date", "team", "service", "customer_id", "environment"],
                                           as_index=False)["effective_cost"].sum()
    result = allocate(grain, metrics(), customers("cust-a", "cust-b", "cust-c"), allocation_rules)
    origin = origin_charges(origin, allocation_rules)
    names = pd.DataFrame({"date": [DAY], "id": ["cust-a"], "name": ["A"]})
    rows = focus_allocated_rows(origin, result.allocated, hop_rows(result.hops), result.unallocated, names,
                                allocation_rules)

    for column in [*FOCUS_COST_COLUMNS, *FOCUS_QUANTITY_COLUMNS]:
        sums = rows.assign(m=to_micros(rows[column].astype(float).fillna(0))).groupby("x_OriginChargeId")["m"].sum()
        expected = origin.set_index("x_OriginChargeId")[column].astype(float).fillna(0)
        assert sums.to_dict() == dict(zip(expected.index, to_micros(expected))), column
    assert rows.loc[rows["ServiceName"] == "provider service 3", "PricingQuantity"].isna().all()  # none stays none
    search = rows[rows["ServiceName"] == "provider service 0"].set_index("x_CustomerId")
    assert sorted(search.index) == ["cust-a", "cust-b", "cust-c"]  # thirds of 50 cents, each within 2 micro-dollars
    assert (search["EffectiveCost"] - 0.5 / 3).abs().max() <= 2e-6
    assert round(search["BilledCost"].sum(), 6) == 0.7 and round(search["PricingQuantity"].sum(), 6) == 3.0
    assert set(search["AllocatedMethodId"]) == {"platform"}
    assert [e["UsageUnit"] for e in elements(search.loc["cust-b", "AllocatedMethodDetails"])] == ["active_customers"]
    by_customer = rows.groupby("x_CustomerId")["EffectiveCost"].sum().round(2).to_dict()
    assert by_customer == result.allocated.groupby("customer_id")["allocated_cost"].sum().round(2).to_dict()
    reasons = rows.set_index("ServiceName")["x_UnallocatedReason"].dropna().to_dict()
    assert reasons == {"provider service 2": "no_usage", "provider service 3": "no_usage",  # netting pool: nothing to split
                       "provider service 5": "internal", "provider service 6": "untagged"}
    direct = rows[rows["ServiceName"] == "provider service 4"]
    assert direct[["x_CustomerId", "AllocatedResourceName", "AllocatedMethodId", "EffectiveCost"]].values.tolist() == [
        ["cust-a", "A", "dedicated", 2.5]]


def test_origin_charge_ids_tell_invoices_apart_whatever_the_row_order():
    # Two charges alike but for their invoice (e.g. a Marketplace invoice), and one not invoiced yet.
    charge = {"ChargePeriodStart": "2026-04-01T00:00:00Z", "ProviderName": "AWS", "SubAccountId": "111122223333",
              "ServiceName": "Amazon Elastic Compute Cloud", "x_ChargeCategory": "Usage", "ChargeCategory": "Usage",
              "CommitmentDiscountStatus": None, "x_Team": "core", "x_Service": "api", "x_CustomerId": "untagged",
              "x_Environment": "production", "PricingUnit": "Hours", "ConsumedUnit": "Hours"}
    rows = pd.DataFrame([{**charge, "InvoiceId": invoice} for invoice in ("INV-A", "INV-B", None)])
    rules = load_allocation_rules()

    def ids(frame: pd.DataFrame) -> dict:
        found = origin_charges(frame, rules)
        return dict(zip(found["InvoiceId"].fillna("none"), found["x_OriginChargeId"]))

    forward, backward = ids(rows), ids(rows.iloc[::-1])
    assert forward == backward and len(set(forward.values())) == 3
    assert not any("-" in charge_id for charge_id in forward.values())  # no order-dependent repeat suffix
