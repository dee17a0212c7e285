"""/costs/waste: non-production spend outside working hours."""

import pandas as pd
from fastapi import APIRouter

from cost_assets.api import models, queries
from cost_assets.api.bodies import answer
from cost_assets.api.dependencies import AsOf, Warehouse
from cost_assets.waste.report import waste_report

router = APIRouter()


@router.get("/costs/waste", response_model=models.Waste)
def get_waste(rows: Warehouse, as_of: AsOf = None):
    """Non-production spend outside working hours and what scheduling would save (trailing 30 days)."""
    return answer(waste_report(pd.DataFrame(rows(queries.waste(as_of))), as_of))
