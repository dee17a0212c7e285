"""One APIRouter per resource of the cost API; cost_assets.api.app assembles them."""
