import pytest
import yaml

from cost_assets.allocation.rules import (
    DIRECT,
    EVEN,
    USAGE_PROPORTIONAL,
    load_allocation_rules,
    parse_allocation_rules,
)
from cost_assets.settings import SettingError

PATH = "/etc/cost/rules.yaml"


def parse(section: dict):
    return parse_allocation_rules(section, PATH)


def test_the_shipped_rules_parse_in_priority_order():
    rules = load_allocation_rules()
    assert [r.method for r in rules.rules] == [DIRECT, USAGE_PROPORTIONAL, USAGE_PROPORTIONAL, EVEN]
    assert [r.priority for r in rules.rules] == sorted(r.priority for r in rules.rules)
    shared = rules.rules[1]
    assert shared.services == ("shared-db", "shared-cache", "cdn")
    assert shared.driver_for("cdn") == "cdn"
    assert rules.rules[2].driver_for("worker") == "api"
    assert rules.driver_services() == {"shared-db", "shared-cache", "cdn", "api"}
    assert rules.internal_environments == ("staging", "development")
    assert rules.overhead_reasons == ("untagged", "no_usage")


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


@pytest.mark.parametrize(
    "section, message",
    [
        ({"rules": [{"name": "x", "method": "magic", "priority": 1, "services": ["a"]}]},
         "allocation.rules[0] (x) has method 'magic'"),
        ({"rules": [{"method": "direct", "priority": 1}]}, "allocation.rules[0] has no name"),
        ({"rules": [{"name": "x", "method": "even", "priority": "high", "services": ["a"]}]},
         "allocation.rules[0] (x) needs a whole-number priority"),
        ({"rules": [{"name": "x", "method": "even", "priority": 1}]}, "allocation.rules[0] (x) (even) needs a list of services"),
        ({"rules": [{"name": "x", "method": "even", "priority": 1, "service": ["a"]}]}, "unknown key(s) service"),
        ({"rules": [{"name": "x", "method": "even", "priority": 1, "services": ["a"], "driver": "api"}]},
         "only usage_proportional rules use"),
        ({"rules": [{"name": "x", "method": "fixed", "priority": 1, "services": ["a"], "shares": {"c1": 60, "c2": 30}}]},
         "allocation.rules[0] (x).shares add up to 90%, not 100%"),
        ({"rules": [{"name": "x", "method": "fixed", "priority": 1, "services": ["a"], "shares": {"c1": -100}}]},
         "must be a positive percent"),
        ({"rules": [{"name": "x", "method": "fixed", "priority": 1, "services": ["a"]}]}, "needs shares"),
        ({"rules": [{"name": "x", "method": "direct", "priority": 1}, {"name": "y", "method": "direct", "priority": 1}]},
         "allocation rules 'x' and 'y' share priority 1"),
        ({"rules": [{"name": "x", "method": "direct", "priority": 1}, {"name": "x", "method": "direct", "priority": 2}]},
         "two allocation rules are named 'x'"),
        ({"rules": [{"name": "x", "method": "even", "priority": 1, "services": ["db"]},
                    {"name": "y", "method": "usage_proportional", "priority": 2, "services": ["db"]}]},
         "service 'db' is in allocation rules 'x' and 'y'"),
        ({"overhead": {"enabled": True, "reasons": ["untagged", "everything"]}}, "allocation.overhead.reasons has everything"),
        ({"overhead": {"enabled": True}}, "allocation.overhead is enabled but lists no reasons"),
        ({"rules": "direct"}, "allocation.rules must be a list"),
        ({"shared": []}, "allocation has unknown key(s) shared"),
    ],
)
def test_bad_rules_fail_with_the_file_and_the_rule_named(section, message):
    with pytest.raises(SettingError) as error:
        parse(section)
    assert PATH in str(error.value)
    assert message in str(error.value)
