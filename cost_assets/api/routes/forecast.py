"""/costs/forecast: month-end cost forecasts of the company and each customer, with an 80% interval."""

from fastapi import APIRouter, HTTPException

from cost_assets.api import models, queries
from cost_assets.api.bodies import answer, day, money, optional
from cost_assets.api.dependencies import AsOf, Warehouse

router = APIRouter()


def _totals(r: dict) -> dict:
    return {"actualToDate": money(r["actual_to_date"]), "forecast": money(r["forecast"]),
            "low": money(r["low"]), "high": money(r["high"])}


@router.get("/costs/forecast", response_model=models.Forecast)
def get_forecast(rows: Warehouse, as_of: AsOf = None):
    """The month of as_of: cost to date, forecast month-end cost and its 80% interval."""
    found = rows(queries.forecast(as_of))
    company = next((r for r in found if r["scope"] == "company"), None)
    if company is None:
        raise HTTPException(status_code=404, detail=f"no cost forecast as of {as_of or 'any day'}: "
                                                    "materialize cost_forecasts for it")
    return answer({
        "asOf": day(company["as_of_date"]), "monthStart": day(company["month_start"]), "monthEnd": day(company["month_end"]),
        "company": _totals(company),
        "customers": [{"customerId": r["scope_value"], **_totals(r), "mrr": optional(r["mrr"]),
                       "forecastMargin": optional(r["forecast_margin_pct"])}
                      for r in found if r["scope"] == "customer"],
    })
