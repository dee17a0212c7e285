"""The rules file (COST_ALLOCATION_RULES): tag aliases, thresholds, allocation rules.

Every mistake in the file is a SettingError naming the file and the key
(a dotted path such as `checks.rejected_cost_share_max`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cost_assets.settings import SettingError, get_settings

PACKAGE_DIR = Path(__file__).parent
# For a real billing source: only what any company's bill can take.
DEFAULT_RULES_PATH = PACKAGE_DIR / "default_rules.yaml"
# The demo company's services (api, worker, search, auth...) and how it splits them.
DEMO_RULES_PATH = PACKAGE_DIR / "demo" / "rules.yaml"

TAG_DIMENSIONS = ("team", "service", "customer", "environment")
# The tag columns of daily_costs, whose untagged share the coverage check measures.
COVERAGE_COLUMNS = ("team", "service", "customer_id", "environment")
SECTIONS = ("tags", "checks", "allocation")
TAG_KEYS = ("keys", "value_aliases")
CHECK_DEFAULTS: dict[str, Any] = {
    "tag_coverage_warn_share": 0.10,
    "tag_coverage_dimensions": ["team", "service", "environment"],
    "rejected_cost_share_max": 0.01,
}


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
    """COST_ALLOCATION_RULES if set; else the demo company's rules for the demo
    source, and the generic default for a real one."""
    current = get_settings()
    if current.allocation_rules:
        return Path(current.allocation_rules)
    return DEMO_RULES_PATH if current.source == "demo" else DEFAULT_RULES_PATH


def rules_error(path: str | Path, key: str, problem: str) -> SettingError:
    """The one shape of a rules-file error: the file, the dotted key, what is wrong."""
    return SettingError(f"rules file {path}: {key} {problem}")


def mapping(value: Any, key: str, path: str | Path, allowed: tuple[str, ...] | set[str] | None = None) -> dict:
    """`value` as a mapping (None: empty), refusing keys outside `allowed`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise rules_error(path, key, f"must be a mapping, got {value!r}")
    if allowed is not None:
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise rules_error(path, key, f"has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return value


def share(value: Any, key: str, path: str | Path) -> float:
    """A share of cost: a number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise rules_error(path, key, f"must be a number from 0 to 1, got {value!r}")
    if not 0 <= value <= 1:
        raise rules_error(path, key, f"must be a share from 0 to 1 (0.05 is 5%), got {value!r}")
    return float(value)


def _text(value: Any) -> str | None:
    """A non-empty name (YAML may read a tag value such as 1 or yes as a number or boolean)."""
    if isinstance(value, (str, int, float, bool)) and str(value).strip():
        return str(value).strip()
    return None


def _tag_keys(raw: Any, path: str | Path) -> dict[str, list[str]]:
    tag_keys = {dim: [dim] for dim in TAG_DIMENSIONS}
    for dim, keys in mapping(raw, "tags.keys", path, TAG_DIMENSIONS).items():
        names = [_text(k) for k in keys] if isinstance(keys, list) else []
        if not names or None in names:
            raise rules_error(path, f"tags.keys.{dim}", f"must be a non-empty list of tag keys, got {keys!r}")
        tag_keys[dim] = names
    return tag_keys


def _value_aliases(raw: Any, path: str | Path) -> dict[str, dict[str, str]]:
    aliases: dict[str, dict[str, str]] = {}
    for dim, pairs in mapping(raw, "tags.value_aliases", path, TAG_DIMENSIONS).items():
        key = f"tags.value_aliases.{dim}"
        aliases[dim] = {}
        for alias, value in mapping(pairs, key, path).items():
            alias_text, value_text = _text(alias), _text(value)
            if alias_text is None or value_text is None:
                raise rules_error(path, f"{key}.{alias}", f"must map a tag value to a non-empty value, got {value!r}")
            aliases[dim][alias_text.lower()] = value_text.lower()
    return aliases


def _coverage_dimensions(raw: Any, path: str | Path) -> list[str]:
    key = "checks.tag_coverage_dimensions"
    if not isinstance(raw, list):
        raise rules_error(path, key, f"must be a list of daily_costs tag columns, got {raw!r}")
    unknown = [d for d in raw if d not in COVERAGE_COLUMNS]
    if unknown:
        raise rules_error(path, key, f"has {', '.join(map(repr, unknown))}; use some of {', '.join(COVERAGE_COLUMNS)}")
    return list(raw)


def parse_rules(raw: Any, path: str | Path) -> Rules:
    """Validate the parsed YAML of the rules file at `path` (pure: reads nothing).

    The `allocation:` section is kept raw here and validated by
    cost_assets.allocation.rules, which the allocation assets use.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SettingError(f"COST_ALLOCATION_RULES: rules file {path} must hold a mapping with {', '.join(SECTIONS)}, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in SECTIONS)
    if unknown:
        raise rules_error(path, ", ".join(unknown), f"is not a section of the rules file; use {', '.join(SECTIONS)}")
    tags = mapping(raw.get("tags"), "tags", path, TAG_KEYS)
    checks = {**CHECK_DEFAULTS, **mapping(raw.get("checks"), "checks", path, tuple(CHECK_DEFAULTS))}
    return Rules(
        path=str(path),
        tag_keys=_tag_keys(tags.get("keys"), path),
        value_aliases=_value_aliases(tags.get("value_aliases"), path),
        tag_coverage_warn_share=share(checks["tag_coverage_warn_share"], "checks.tag_coverage_warn_share", path),
        tag_coverage_dimensions=_coverage_dimensions(checks["tag_coverage_dimensions"], path),
        rejected_cost_share_max=share(checks["rejected_cost_share_max"], "checks.rejected_cost_share_max", path),
        allocation=raw.get("allocation") or {},
    )


def load_rules(path: str | Path | None = None) -> Rules:
    """The rules file at `path` (default: rules_path()), read and validated."""
    path = Path(path) if path else rules_path()
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise SettingError(f"COST_ALLOCATION_RULES: rules file {path} does not exist") from exc
    except OSError as exc:
        raise SettingError(f"COST_ALLOCATION_RULES: rules file {path} cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SettingError(f"COST_ALLOCATION_RULES: rules file {path} is not valid YAML: {exc}") from exc
    return parse_rules(raw, path)
