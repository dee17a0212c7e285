"""/costs/customers, /costs/customers/{customer_id}, its /allocation and its /history: unit
economics per customer, how a customer's cost was placed (hop by hop: stage, rule, driver metric and
quantity), and its economics day by day."""

import orjson
from fastapi import APIRouter, HTTPException

from cost_assets.api import models, queries
from cost_assets.api.bodies import answer, day, economics_json, json_answer, money, optional
from cost_assets.api.dependencies import AsOf, Days, PathName, Warehouse

router = APIRouter()


@router.get("/costs/customers/{customer_id}", response_model=models.CustomerEconomics)
def get_customer(rows: Warehouse, customer_id: PathName, as_of: AsOf = None):
    found = rows(queries.customers(as_of, customer_id))
    if not found:
        raise HTTPException(status_code=404, detail=f"no unit economics for customer {customer_id!r}")
    return json_answer(economics_json(found[0]))


@router.get("/costs/customers/{customer_id}/allocation", response_model=models.CustomerAllocation)
def get_customer_allocation(rows: Warehouse, customer_id: PathName, days: Days = 30, as_of: AsOf = None):
    found = rows(queries.customer_allocation(customer_id, as_of, days))
    if not found:
        raise HTTPException(status_code=404, detail=f"no cost allocated to customer {customer_id!r} "
                                                    f"in the {days} days to {as_of or 'the latest day'}")
    lines = [
        {"service": r["service"], "method": r["allocation_method"], "rule": r["rule"],
         "allocatedCost": money(r["allocated_cost"]), "pooledCost": optional(r["pooled_cost"]),
         "share": optional(float(r["allocated_cost"]) / float(r["pooled_cost"]), 4) if r["pooled_cost"] else None,
         "days": int(r["days"])}
        for r in found
    ]
    hops = [
        {"stage": None if h["stage"] is None else int(h["stage"]), "rule": h["rule"], "method": h["allocation_method"], "originService": h["origin_service"],
         "fromService": h["from_service"], "recipientKind": h["recipient_kind"], "recipient": h["recipient"],
         "driverService": h["driver_service"], "driverMetric": h["driver_metric"],
         "driverQuantity": optional(h["driver_quantity"], 6), "cost": money(h["cost"]), "days": int(h["days"])}
        for h in rows(queries.customer_hops(customer_id, as_of, days))
    ]
    return answer({"customerId": customer_id, "asOf": day(found[0]["as_of_date"]), "days": days,
                   "total": money(sum(float(r["allocated_cost"]) for r in found)), "allocation": lines, "hops": hops})


@router.get("/costs/customers/{customer_id}/history", response_model=models.CustomerHistory)
def get_customer_history(rows: Warehouse, customer_id: PathName, days: Days = 90, as_of: AsOf = None):
    """The customer's economics as of each of the `days` days up to as_of: what the dashboard's
    cost-against-MRR and margin charts draw."""
    found = rows(queries.customer_history(customer_id, as_of, days))
    if not found:
        raise HTTPException(status_code=404, detail=f"no unit economics for customer {customer_id!r} "
                                                    f"in the {days} days to {as_of or 'the latest day'}")
    history = [
        {"asOf": day(r["as_of_date"]), "mrr": optional(r["mrr"]), "monthlyInfraCost": money(r["monthly_infra_cost"]),
         "grossMargin": optional(r["gross_margin_pct"]), "fullyLoadedCost": money(r["fully_loaded_cost"]),
         "fullyLoadedMargin": optional(r["fully_loaded_margin_pct"]), "missingDays": int(r["missing_days"])}
        for r in found
    ]
    return answer({"customerId": customer_id, "customerName": found[-1]["customer_name"], "asOf": history[-1]["asOf"],
                   "days": days, "history": history})


@router.get("/costs/customers", response_model=models.Customers)
def get_customers(rows: Warehouse, as_of: AsOf = None):
    found = rows(queries.customers(as_of))
    as_of_json = orjson.dumps(day(found[0]["as_of_date"] if found else as_of))
    return json_answer(b'{"asOf":' + as_of_json + b',"customers":[' + b",".join(economics_json(r) for r in found) + b"]}")
