"""/costs/teams: each team's cost of the last 30 days."""

from fastapi import APIRouter

from cost_assets.api import models, queries
from cost_assets.api.bodies import answer, day, money
from cost_assets.api.dependencies import AsOf, Warehouse

router = APIRouter()


@router.get("/costs/teams", response_model=models.Teams)
def get_teams(rows: Warehouse, as_of: AsOf = None):
    found = rows(queries.teams(as_of))
    return answer({
        "asOf": day(found[0]["as_of_date"] if found else as_of),
        "teams": [{"team": r["team"], "totalCost": money(r["last_30_days_cost"]), "serviceCount": int(r["service_count"])} for r in found],
    })
