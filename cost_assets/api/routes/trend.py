"""/costs/trend: cost per day, by team, over the last `days` days."""

from fastapi import APIRouter

from cost_assets.api import models, queries
from cost_assets.api.bodies import answer, day, money
from cost_assets.api.dependencies import AsOf, Days, Warehouse

router = APIRouter()


@router.get("/costs/trend", response_model=models.Trend)
def get_trend(rows: Warehouse, days: Days = 30, as_of: AsOf = None):
    trend: dict[str, dict] = {}
    for r in rows(queries.trend(as_of, days)):
        entry = trend.setdefault(day(r["date"]), {"date": day(r["date"]), "total": 0.0, "byTeam": {}, "isEstimated": False})
        entry["byTeam"][r["team"]] = money(r["cost"])
        entry["total"] += float(r["cost"])
        entry["isEstimated"] = entry["isEstimated"] or bool(r["is_estimated"])
    for entry in trend.values():
        entry["total"] = money(entry["total"])
    return answer({"trend": list(trend.values())})
