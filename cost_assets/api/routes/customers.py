"""/costs/customers, /costs/customers/{customer_id} and its /allocation: unit economics
per customer, and how a customer's cost was placed."""

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
    return answer({"customerId": customer_id, "asOf": day(found[0]["as_of_date"]), "days": days,
                   "total": money(sum(float(r["allocated_cost"]) for r in found)), "allocation": lines})


@router.get("/costs/customers", response_model=models.Customers)
def get_customers(rows: Warehouse, as_of: AsOf = None):
    found = rows(queries.customers(as_of))
    as_of_json = orjson.dumps(day(found[0]["as_of_date"] if found else as_of))
    return json_answer(b'{"asOf":' + as_of_json + b',"customers":[' + b",".join(economics_json(r) for r in found) + b"]}")
