"""Off-hours waste of non-production environments (issue 7)."""
