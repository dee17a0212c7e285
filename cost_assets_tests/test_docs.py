"""The documentation keeps up with the code: every setting the code reads is in the
README's settings table and in docs/reference.md, every warehouse table and column
is in docs/reference.md, every cited anchor exists, and nothing points outside the repo."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

from cost_assets.api.app import create_app
from cost_assets.resources import schema

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REFERENCE = ROOT / "docs" / "reference.md"

SETTING = re.compile(r"\bCOST_[A-Z0-9_]+\b")
# Set by `cost-api --insecure-no-auth` for its own worker processes, not by users.
INTERNAL_SETTINGS = {"COST_API_INSECURE_NO_AUTH"}
TEST_ONLY_PREFIXES = ("COST_TEST_", "COST_REQUIRE_")
# Built here so this file does not contain what it looks for.
OUTSIDE_REPO = "../" + "shared"
OLD_CITATION = "CONT" + "RACT §"  # a citation of the retired names file
SKIPPED_DIRS = {".git", ".venv", ".cache", ".dagster_home", ".cost_data", "__pycache__", ".pytest_cache", "node_modules"}


def repo_files() -> list[Path]:
    """Tracked and new (not ignored) files; a tree without git is walked instead."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True).stdout.decode().split("\0")
        files = [ROOT / name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for folder, dirs, names in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
            files += [Path(folder) / name for name in names]
    return [path for path in files if path.is_file()]


def names_in(paths: list[Path]) -> set[str]:
    """COST_* names written in the files; `COST_DB_*_TIMEOUT_S` style patterns are not names."""
    found = set()
    for path in paths:
        found |= {name for name in SETTING.findall(path.read_text(errors="replace")) if not name.endswith("_")}
    return found


def section(markdown: str, heading: str) -> str:
    """The text under `heading` (e.g. '## Settings') up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    lines = markdown.splitlines()
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("#") and len(lines[i].split(" ", 1)[0]) <= len(level)
                and set(lines[i].split(" ", 1)[0]) == {"#"}), len(lines))
    return "\n".join(lines[start + 1:end])


def table_names(text: str) -> set[str]:
    """The `COST_*` names in the first cell of the markdown table rows of `text`."""
    return {match for match in re.findall(r"^\|\s*`(COST_[A-Z0-9_]+)`\s*\|", text, re.MULTILINE)}


def code_settings() -> set[str]:
    code = [p for p in repo_files() if p.suffix == ".py" and p.is_relative_to(ROOT / "cost_assets")]
    code += [p for p in (ROOT / "scripts").iterdir() if p.is_file()]
    names = names_in(code) - INTERNAL_SETTINGS
    names = {name for name in names if not name.startswith(TEST_ONLY_PREFIXES)}
    # The scan must find the settings the project is known to read, or it proves nothing.
    assert {"COST_WAREHOUSE_URL", "COST_DB_LOCK_TIMEOUT_S", "COST_API_WORKERS", "COST_WORK_HOURS"} <= names
    return names


def test_every_setting_is_in_the_readme_settings_table():
    documented = table_names(section(README.read_text(), "## Settings"))
    missing = sorted(code_settings() - documented)
    assert not missing, f"README.md, section Settings, has no table row for {', '.join(missing)}"


def test_every_setting_is_in_the_reference_settings_table():
    documented = table_names(section(REFERENCE.read_text(), "## Settings"))
    missing = sorted(code_settings() - documented)
    assert not missing, f"docs/reference.md#settings has no table row for {', '.join(missing)}"


def test_documented_settings_exist():
    """A row for a setting nothing reads any more is a lie to users."""
    read = code_settings()
    for path, heading in ((README, "## Settings"), (REFERENCE, "## Settings")):
        stale = sorted(table_names(section(path.read_text(), heading)) - read)
        assert not stale, f"{path.name} documents {', '.join(stale)}, which no code reads"


def test_test_only_settings_are_documented():
    tests = [p for p in repo_files() if p.is_relative_to(ROOT / "cost_assets_tests") and p.suffix == ".py"]
    tests += [ROOT / ".ci" / "run"] if (ROOT / ".ci" / "run").is_file() else []
    test_only = {name for name in names_in(tests) if name.startswith(TEST_ONLY_PREFIXES)}
    assert "COST_REQUIRE_POSTGRES" in test_only
    reference = table_names(section(REFERENCE.read_text(), "## Test settings"))
    readme = set(SETTING.findall(README.read_text()))
    assert not sorted(test_only - reference), f"docs/reference.md#test-settings lacks {sorted(test_only - reference)}"
    assert not sorted(test_only - readme), f"README.md never mentions {sorted(test_only - readme)}"


def outside_references(paths: list[Path]) -> list[str]:
    """`file: needle` for each file holding a path outside the repo or an old citation."""
    found = []
    for path in paths:
        data = path.read_bytes()
        found += [f"{path}: {needle!r}" for needle in (OUTSIDE_REPO, OLD_CITATION) if needle.encode() in data]
    return found


def test_nothing_points_outside_the_repository():
    offenders = outside_references(repo_files())
    assert not offenders, "cite docs/reference.md instead:\n" + "\n".join(offenders)


def test_the_check_for_outside_paths_finds_them(tmp_path):
    stray = tmp_path / "stray.md"
    stray.write_text(f"see [the old contract]({OUTSIDE_REPO}/names.md), {OLD_CITATION}4\n")
    assert len(outside_references([stray])) == 2
    stray.write_text("see [the reference](docs/reference.md#settings)\n")
    assert outside_references([stray]) == []


def column_row(table, column) -> str:
    typ = column.type.compile(dialect=postgresql.dialect()).replace("NUMERIC(20, 6)", "NUMERIC(20,6)")
    key = "key" if column.primary_key else ("null" if column.nullable else "not null")
    return f"| `{column.name}` | {typ} | {key} | {column.comment} |"


def documented_tables() -> dict[str, str]:
    """Warehouse table name -> its section in docs/reference.md."""
    tables_text = section(REFERENCE.read_text(), "## Warehouse tables")
    parts = re.split(r"^### `([a-z_]+)`$", tables_text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_warehouse_table_and_column_is_documented():
    documented = documented_tables()
    problems = []
    for table in schema.metadata.tables.values():
        if table.name not in documented:
            rows = "\n".join(column_row(table, c) for c in table.columns)
            problems.append(f"table {table.name} has no section; add:\n### `{table.name}`\n\n{table.comment}\n\n"
                            f"| column | type | key | meaning |\n|---|---|---|---|\n{rows}")
            continue
        for column in table.columns:
            row = re.search(rf"^\| `{column.name}` \| [^|]+ \| (key|null|not null) \|", documented[table.name], re.MULTILINE)
            expected = "key" if column.primary_key else ("null" if column.nullable else "not null")
            if row is None:
                problems.append(f"{table.name}.{column.name} is missing; add: {column_row(table, column)}")
            elif row.group(1) != expected:
                problems.append(f"{table.name}.{column.name} is documented as {row.group(1)}; schema.py: {expected}")
    stale = sorted(set(documented) - set(schema.metadata.tables))
    if stale:
        problems.append(f"documented but not in schema.py: {', '.join(stale)}")
    assert not problems, "docs/reference.md#warehouse-tables is out of date:\n" + "\n".join(problems)


def test_every_api_path_is_documented():
    app = create_app("sqlite://", token="t")
    paths = {re.sub(r"\{[^}]*\}", "{}", path) for path in app.openapi()["paths"] if path.startswith("/costs")}
    assert "/costs/teams" in paths
    documented = {re.sub(r"\{[^}]*\}", "{}", p.split("?")[0])
                  for p in re.findall(r"^\| `(/costs[^`]*)` \|", section(REFERENCE.read_text(), "## Cost API"), re.MULTILINE)}
    assert not sorted(paths - documented), f"docs/reference.md#cost-api lacks {sorted(paths - documented)}"
    assert not sorted(documented - paths), f"docs/reference.md#cost-api documents {sorted(documented - paths)}, which is not served"


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found, seen = set(), {}
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not re.match(r"^#{1,6} ", line):
            continue
        base = slug(line.split(" ", 1)[1])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def test_slug_matches_github():
    assert slug("Database timeouts") == "database-timeouts"
    assert slug("`daily_costs`") == "daily_costs"
    assert slug("Cost API and dashboard") == "cost-api-and-dashboard"


def test_cited_reference_anchors_exist():
    reference_anchors = anchors(REFERENCE.read_text())
    assert {"settings", "database-urls", "database-timeouts", "warehouse-tables", "cost-api"} <= reference_anchors
    broken = []
    for path in repo_files():
        if path.suffix in (".parquet", ".gz") or path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(errors="replace")
        for anchor in re.findall(r"docs/reference\.md#([\w-]+)", text):
            if anchor not in reference_anchors:
                broken.append(f"{path.relative_to(ROOT)}: docs/reference.md#{anchor}")
    for anchor in re.findall(r"\]\(#([\w-]+)\)", REFERENCE.read_text()):
        if anchor not in reference_anchors:
            broken.append(f"docs/reference.md: #{anchor}")
    readme = README.read_text()
    for anchor in re.findall(r"\]\(#([\w-]+)\)", readme):
        if anchor not in anchors(readme):
            broken.append(f"README.md: #{anchor}")
    assert not broken, "links to headings that do not exist:\n" + "\n".join(broken)


@pytest.mark.parametrize("heading", ["## Settings", "## Test settings", "## Warehouse tables", "## Cost API"])
def test_reference_sections_exist(heading):
    assert section(REFERENCE.read_text(), heading).strip()
