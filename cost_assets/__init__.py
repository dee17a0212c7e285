"""Customer-level cloud cost allocation on Dagster."""

import warnings

# Single-run backfill policies are the design here, not an experiment to be warned about.
warnings.filterwarnings("ignore", message=r".*`backfill_policy`.*beta", category=Warning)
