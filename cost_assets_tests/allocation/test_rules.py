import textwrap

import pytest
import yaml

from cost_assets.allocation.rules import (
    DIRECT,
    EVEN,
    USAGE_PROPORTIONAL,
    load_allocation_rules,
    parse_allocation_rules,
)
from cost_assets.rules import DEFAULT_RULES_PATH, DEMO_RULES_PATH, load_rules, parse_rules, rules_path
from cost_assets.settings import SettingError

PATH = "/etc/cost/rules.yaml"
SETTINGS = ["COST_SOURCE", "COST_ALLOCATION_RULES"]  # unset by the clean_env fixture


def parse(section: dict):
    return parse_allocation_rules(section, PATH)


def test_the_default_rules_place_only_customer_tags_and_the_shared_services_by_their_own_requests():
    rules = load_allocation_rules(DEFAULT_RULES_PATH)
    assert [(r.name, r.method) for r in rules.rules] == [
        ("dedicated-resources", DIRECT), ("shared-infrastructure", USAGE_PROPORTIONAL)]
    shared = rules.rules[1]
    assert shared.services == ("shared-db", "shared-cache", "cdn")
    assert rules.driver_services() == {"shared-db", "shared-cache", "cdn"}
    assert rules.internal_environments == ("staging", "development")
    assert rules.internal_services == ()
    assert rules.overhead_reasons == ("untagged", "no_usage")


def test_the_demo_rules_add_the_demo_companys_services_in_priority_order():
    rules = load_allocation_rules(DEMO_RULES_PATH)
    assert [r.method for r in rules.rules] == [DIRECT, USAGE_PROPORTIONAL, USAGE_PROPORTIONAL, EVEN]
    assert [r.priority for r in rules.rules] == sorted(r.priority for r in rules.rules)
    assert rules.rules[1].driver_for("cdn") == "cdn"
    assert rules.rules[2].driver_for("worker") == "api"
    assert rules.rules[3].services == ("search", "auth")
    assert rules.driver_services() == {"shared-db", "shared-cache", "cdn", "api"}
    assert rules.internal_services == ("ci", "observability")


def test_both_shipped_files_read_tags_and_checks_alike():
    default, demo = load_rules(DEFAULT_RULES_PATH), load_rules(DEMO_RULES_PATH)
    assert {k: v for k, v in vars(default).items() if k not in ("path", "allocation")} == \
           {k: v for k, v in vars(demo).items() if k not in ("path", "allocation")}


@pytest.mark.parametrize("source, expected", [(None, DEMO_RULES_PATH), ("demo", DEMO_RULES_PATH),
                                              ("focus", DEFAULT_RULES_PATH), ("cur2", DEFAULT_RULES_PATH),
                                              ("cost_explorer", DEFAULT_RULES_PATH)])
def test_the_rules_file_follows_the_source_unless_one_is_set(clean_env, tmp_path, source, expected):
    if source:
        clean_env.setenv("COST_SOURCE", source)
    assert rules_path() == expected
    assert load_rules().path == str(expected)

    own = tmp_path / "own.yaml"
    own.write_text(yaml.safe_dump({"allocation": {"rules": [{"name": "d", "method": "direct", "priority": 1}]}}))
    clean_env.setenv("COST_ALLOCATION_RULES", str(own))
    assert rules_path() == own
    assert load_allocation_rules().path == str(own)


def test_rules_are_sorted_by_priority_and_names_are_normalized_like_tags():
    rules = parse({
        "internal_services": [" CI "],
        "rules": [
            {"name": "split", "method": "even", "priority": 20, "services": ["Search"]},
            {"name": "dedicated", "method": "direct", "priority": 5},
            {"name": "partner", "method": "fixed", "priority": 30, "services": ["integrations"],
             "shares": {"CUST-1": 60, "cust-2": 40}},
        ],
    })
    assert [r.name for r in rules.rules] == ["dedicated", "split", "partner"]
    assert rules.rules[1].services == ("search",)
    assert rules.internal_services == ("ci",)
    assert rules.rules[2].shares == {"cust-1": 60.0, "cust-2": 40.0}
    assert rules.overhead_reasons == ()


def test_a_rules_file_on_disk_is_read(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"allocation": {"rules": [{"name": "d", "method": "direct", "priority": 1}],
                                                   "overhead": {"enabled": False, "reasons": ["untagged"]}}}))
    rules = load_allocation_rules(path)
    assert rules.path == str(path)
    assert [r.name for r in rules.rules] == ["d"]
    assert rules.overhead_reasons == ()


def test_checks_and_aliases_are_read_and_missing_ones_take_the_defaults():
    rules = parse_rules({"checks": {"rejected_cost_share_max": 0, "tag_coverage_dimensions": ["customer_id"]},
                         "tags": {"value_aliases": {"environment": {" PROD ": "Production"}}}}, PATH)
    assert rules.rejected_cost_share_max == 0.0
    assert rules.tag_coverage_dimensions == ["customer_id"]
    assert rules.tag_coverage_warn_share == 0.10
    assert rules.value_aliases == {"environment": {"prod": "production"}}
    assert rules.tag_keys["team"] == ["team"]
    assert parse_rules(None, PATH).rejected_cost_share_max == 0.01  # an empty file


def rule(name="x", method="even", priority=1, extra=""):
    return f"    - {{name: {name}, method: {method}, priority: {priority}, services: [a]{extra}}}\n"


# (rules file text, the key the message must name, a further part of the message)
BAD_FILES = [
    ("allocations: {}\n", "allocations", "is not a section of the rules file"),
    ("tags: [team, service]\n", "tags", "must be a mapping"),
    ("tags: {key: {}}\n", "tags", "unknown key(s) key"),
    ("tags: {keys: [team]}\n", "tags.keys", "must be a mapping"),
    ("tags: {keys: {owner: [owner]}}\n", "tags.keys", "unknown key(s) owner"),
    ("tags: {keys: {team: Team}}\n", "tags.keys.team", "non-empty list of tag keys"),
    ("tags: {keys: {team: []}}\n", "tags.keys.team", "non-empty list of tag keys"),
    ("tags: {value_aliases: [prod]}\n", "tags.value_aliases", "must be a mapping"),
    ("tags: {value_aliases: {environment: [prod, production]}}\n", "tags.value_aliases.environment", "must be a mapping"),
    ("tags: {value_aliases: {stage: {prod: production}}}\n", "tags.value_aliases", "unknown key(s) stage"),
    ("tags: {value_aliases: {environment: {prod: }}}\n", "tags.value_aliases.environment.prod", "non-empty value"),
    ("checks: [rejected_cost_share_max]\n", "checks", "must be a mapping"),
    ("checks: {rejected_cost_share_max: lots}\n", "checks.rejected_cost_share_max", "number from 0 to 1, got 'lots'"),
    ("checks: {rejected_cost_share_max: 5}\n", "checks.rejected_cost_share_max", "share from 0 to 1 (0.05 is 5%), got 5"),
    ("checks: {rejected_cost_share_max: -1}\n", "checks.rejected_cost_share_max", "got -1"),
    ("checks: {rejected_cost_share_max: .nan}\n", "checks.rejected_cost_share_max", "number from 0 to 1"),
    ("checks: {rejected_cost_share_max: true}\n", "checks.rejected_cost_share_max", "number from 0 to 1"),
    ("checks: {tag_coverage_warn_share: 10%}\n", "checks.tag_coverage_warn_share", "got '10%'"),
    ("checks: {tag_coverage_warn_share: 1.5}\n", "checks.tag_coverage_warn_share", "got 1.5"),
    ("checks: {tag_coverage_dimensions: [team, owner]}\n", "checks.tag_coverage_dimensions", "has 'owner'; use some of"),
    ("checks: {tag_coverage_dimensions: [customer]}\n", "checks.tag_coverage_dimensions", "customer_id"),
    ("checks: {tag_coverage_dimensions: team}\n", "checks.tag_coverage_dimensions", "must be a list"),
    ("checks: {rejected_share_max: 0.5}\n", "checks", "unknown key(s) rejected_share_max"),
    ("allocation: [dedicated]\n", "allocation", "must be a mapping"),
    ("allocation: {shared: []}\n", "allocation", "unknown key(s) shared"),
    ("allocation: {internal_services: ci}\n", "allocation.internal_services", "list of non-empty names"),
    ("allocation: {internal_environments: [staging, Staging]}\n", "allocation.internal_environments", "more than once"),
    ("allocation: {rules: direct}\n", "allocation.rules", "must be a list"),
    ("allocation:\n  rules:\n    - direct\n", "allocation.rules[0]", "must be a mapping"),
    ("allocation:\n  rules:\n    - {method: direct, priority: 1}\n", "allocation.rules[0].name", "non-empty name"),
    ("allocation:\n  rules:\n" + rule(method="magic"), "allocation.rules[0].method", "(rule 'x') is 'magic'; use one of"),
    ("allocation:\n  rules:\n    - {name: x, priority: 1, services: [a]}\n", "allocation.rules[0].method", "(rule 'x') is missing; use one of"),
    ("allocation:\n  rules:\n" + rule(priority="high"), "allocation.rules[0].priority", "whole number, got 'high'"),
    ("allocation:\n  rules:\n    - {name: x, method: even, priority: 1}\n", "allocation.rules[0].services",
     "required by method even"),
    ("allocation:\n  rules:\n" + rule(extra=", service: [b]"), "allocation.rules[0]", "unknown key(s) service"),
    ("allocation:\n  rules:\n" + rule(extra=", driver: api"), "allocation.rules[0].driver", "only usage_proportional"),
    ("allocation:\n  rules:\n" + rule(method="usage_proportional", extra=", driver: [api]"),
     "allocation.rules[0].driver", "'self' or a service name"),
    ("allocation:\n  rules:\n" + rule(method="fixed", extra=", shares: {c1: 60, c2: 30}"),
     "allocation.rules[0].shares", "add up to 90%, not 100%"),
    ("allocation:\n  rules:\n" + rule(method="fixed", extra=", shares: {c1: -100}"),
     "allocation.rules[0].shares.c1", "positive percent"),
    ("allocation:\n  rules:\n" + rule(method="fixed", extra=", shares: {c1: .nan}"),
     "allocation.rules[0].shares.c1", "positive percent"),
    ("allocation:\n  rules:\n" + rule(method="fixed", extra=", shares: {C1: 50, c1: 50}"),
     "allocation.rules[0].shares.c1", "already listed"),
    ("allocation:\n  rules:\n" + rule(method="fixed"), "allocation.rules[0].shares", "required by method fixed"),
    ("allocation:\n  rules:\n" + rule(extra=", shares: {c1: 100}"), "allocation.rules[0].shares", "only fixed rules"),
    ("allocation:\n  rules:\n    - {name: x, method: even, priority: 1, services: [a, b, A]}\n",
     "allocation.rules[0].services", "lists a more than once"),
    ("allocation:\n  rules:\n" + rule("x") + rule("y"), "allocation.rules[1].priority",
     "(rule 'y') is 1, the same as rule 'x'"),
    ("allocation:\n  rules:\n" + rule("x") + rule("x", priority=2), "allocation.rules[1].name",
     "'x' is also the name of allocation.rules[0]"),
    ("allocation:\n  rules:\n" + rule("x") + rule("y", method="usage_proportional", priority=2),
     "allocation.rules[1].services", "lists 'a', which rule 'x' splits already"),
    ("allocation:\n  internal_services: [a]\n  rules:\n" + rule("x"), "allocation.rules[0].services",
     "allocation.internal_services makes internal"),
    ("allocation: {overhead: [untagged]}\n", "allocation.overhead", "must be a mapping"),
    ("allocation: {overhead: {enabled: yes please, reasons: [untagged]}}\n", "allocation.overhead.enabled", "true or false"),
    ("allocation: {overhead: {enabled: true, reason: [untagged]}}\n", "allocation.overhead", "unknown key(s) reason"),
    ("allocation: {overhead: {enabled: true, reasons: [untagged, everything]}}\n", "allocation.overhead.reasons",
     "has everything"),
    ("allocation: {overhead: {enabled: true}}\n", "allocation.overhead.reasons", "is empty, but allocation.overhead is enabled"),
]


@pytest.mark.parametrize("text, key, message", BAD_FILES, ids=[f"{i}-{key}" for i, (_, key, _) in enumerate(BAD_FILES)])
def test_a_bad_rules_file_fails_naming_the_file_and_the_key(tmp_path, text, key, message):
    path = tmp_path / "company-rules.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(SettingError) as error:
        load_allocation_rules(path)  # reads the whole file: tags, checks and allocation
    assert str(error.value).startswith(f"rules file {path}: {key} ")
    assert message in str(error.value)


@pytest.mark.parametrize("text, problem", [("tags: [unclosed\n", "is not valid YAML"), (None, "does not exist"),
                                           ("- tags\n", "must hold a mapping with tags, checks, allocation")])
def test_an_unreadable_rules_file_names_the_setting_and_the_file(tmp_path, text, problem):
    path = tmp_path / "rules.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SettingError, match=f"COST_ALLOCATION_RULES: rules file {path} {problem}"):
        load_rules(path)
