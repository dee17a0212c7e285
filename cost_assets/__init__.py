"""Customer-level cloud cost allocation on Dagster."""

import warnings

# Single-run backfill policies are the design here, not an experiment to be warned about.
for _parameter in ("backfill_policy", "allow_nonexistent_upstream_partitions"):
    warnings.filterwarnings("ignore", message=rf".*`{_parameter}`.*beta", category=Warning)
