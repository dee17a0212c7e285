"""The rules file (COST_ALLOCATION_RULES): tag aliases, thresholds, allocation rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cost_assets.settings import SettingError, env

DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.yaml")
TAG_DIMENSIONS = ("team", "service", "customer", "environment")


@dataclass(frozen=True)
class Rules:
    path: str
    tag_keys: dict[str, list[str]]
    value_aliases: dict[str, dict[str, str]]
    tag_coverage_warn_share: float
    tag_coverage_dimensions: list[str]
    rejected_cost_share_max: float
    allocation: dict[str, Any] = field(default_factory=dict)

    def primary_tag_key(self, dimension: str) -> str:
        return self.tag_keys[dimension][0]


def rules_path() -> Path:
    return Path(env("COST_ALLOCATION_RULES") or DEFAULT_RULES_PATH)


def load_rules(path: str | Path | None = None) -> Rules:
    path = Path(path) if path else rules_path()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise SettingError(f"COST_ALLOCATION_RULES: rules file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise SettingError(f"COST_ALLOCATION_RULES: rules file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SettingError(f"COST_ALLOCATION_RULES: rules file {path} must hold a mapping")

    tags = raw.get("tags") or {}
    tag_keys = {dim: [dim] for dim in TAG_DIMENSIONS}
    for dim, keys in (tags.get("keys") or {}).items():
        if dim not in TAG_DIMENSIONS:
            raise SettingError(f"rules file {path}: tags.keys.{dim} is not one of {TAG_DIMENSIONS}")
        if not isinstance(keys, list) or not keys:
            raise SettingError(f"rules file {path}: tags.keys.{dim} must be a non-empty list")
        tag_keys[dim] = [str(k) for k in keys]
    value_aliases = {
        dim: {str(k).strip().lower(): str(v).strip().lower() for k, v in (aliases or {}).items()}
        for dim, aliases in (tags.get("value_aliases") or {}).items()
    }
    checks = raw.get("checks") or {}
    return Rules(
        path=str(path),
        tag_keys=tag_keys,
        value_aliases=value_aliases,
        tag_coverage_warn_share=float(checks.get("tag_coverage_warn_share", 0.10)),
        tag_coverage_dimensions=list(checks.get("tag_coverage_dimensions", ["team", "service", "environment"])),
        rejected_cost_share_max=float(checks.get("rejected_cost_share_max", 0.01)),
        allocation=raw.get("allocation") or {},
    )
