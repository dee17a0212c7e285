"""The FinOps Foundation's focus-validator 2.2.1, in its own Python 3.12 virtualenv.

focus-validator needs Python >= 3.12 and pins numpy 1.x (so `pyarrow<20`
beside it), so it never goes into the project's environment: a session
fixture creates a virtualenv for this version in the user's cache
($XDG_CACHE_HOME, else ~/.cache: cost_assets/focus-validator-2.2.1-venv) once,
with pyenv's 3.12 (`PYENV_VERSION=3.12.1 python3.12`) or else a plain
`python3.12`, and reuses it in later runs and other clones (installing it takes
about a minute); a file lock makes parallel test workers (pytest-xdist) and
concurrent runs install it once.
When no Python 3.12 is found or the package registry cannot be reached the
validator tests skip, unless COST_REQUIRE_FOCUS_VALIDATOR=1 (CI) turns that
into a failure.

The validator runs offline on its bundled FOCUS 1.2 rules (model-1.2.0.1.json).
It exits 0 even when rules fail, so the result is read from its console report:
one line per rule, `<icon> <RuleId>: PASS|FAIL|SKIPPED  (details)`, and a
`Total: N | Pass: N | Fail: N | Skipped: N` line the parsed lines must add up to.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

VERSION = "2.2.1"
FOCUS_VERSION = "1.2"
REQUIREMENTS = [f"focus-validator=={VERSION}", "pyarrow<20"]
# Outside the clone, keyed by the version: a fresh clone on the same machine does not install it again.
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cost_assets"
VENV = CACHE / f"focus-validator-{VERSION}-venv"
READY_MARKER = VENV / f"installed-focus-validator-{VERSION}"
# Ways to run Python 3.12, first that works wins: pyenv's 3.12.1, then whatever python3.12 is on PATH.
PYTHON_3_12 = [({"PYENV_VERSION": "3.12.1"}, "python3.12"), ({}, "python3.12")]

RULE_LINE = re.compile(r"^\S+ (?P<rule>[A-Za-z]+-[A-Z]-\d{3}-[A-Z]): (?P<status>PASS|FAIL|SKIPPED)(?:  \((?P<details>.*)\))?$")
SUMMARY_LINE = re.compile(r"^Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)$")
MUST_SATISFY_LINE = re.compile(r"^- (?P<rule>\S+): .*\n  MustSatisfy: (?P<text>.*)$", re.MULTILINE)
SKIP_REASON = re.compile(r"reason=(?P<reason>[^,]*)")


def _unavailable(reason: str):
    if os.environ.get("COST_REQUIRE_FOCUS_VALIDATOR") == "1":
        pytest.fail(f"focus-validator is required (COST_REQUIRE_FOCUS_VALIDATOR=1) but {reason}")
    pytest.skip(reason)


def _python_3_12() -> tuple[dict, str] | None:
    for extra_env, command in PYTHON_3_12:
        try:
            found = subprocess.run([command, "-c", "import sys; assert sys.version_info >= (3, 12)"],
                                   env={**os.environ, **extra_env}, capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if found.returncode == 0:
            return extra_env, command
    return None


@pytest.fixture(scope="session")
def focus_validator() -> Path:
    """The focus-validator executable, installed on first use."""
    CACHE.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers and other runs share the cache: one installs, the others wait and reuse it.
    with open(CACHE / f"focus-validator-{VERSION}-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _install()
    return VENV / "bin" / "focus-validator"


def _install() -> None:
    # Installed with these requirements, and its Python still there (pyenv's may have been removed).
    ready = (READY_MARKER.exists() and READY_MARKER.read_text() == " ".join(REQUIREMENTS) + "\n"
             and (VENV / "bin" / "python").exists())
    if not ready:
        shutil.rmtree(VENV, ignore_errors=True)
        python = _python_3_12()
        if python is None:
            _unavailable("no Python 3.12 found (tried `PYENV_VERSION=3.12.1 python3.12` and `python3.12`)")
        extra_env, command = python
        try:
            subprocess.run([command, "-m", "venv", str(VENV)], env={**os.environ, **extra_env},
                           check=True, capture_output=True, text=True, timeout=300)
            subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", *REQUIREMENTS],
                           check=True, capture_output=True, text=True, timeout=900)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(VENV, ignore_errors=True)
            output = (getattr(exc, "stderr", None) or getattr(exc, "stdout", None) or str(exc))
            _unavailable(f"cannot install {' '.join(REQUIREMENTS)} into {VENV}: {str(output)[-1500:]}")
        READY_MARKER.write_text(" ".join(REQUIREMENTS) + "\n")


def _site_packages() -> Path:
    return next((VENV / "lib").glob("python*/site-packages"))


def _or_alternatives() -> dict[str, str]:
    """Rule -> the composite rule whose OR lists it as one alternative, from the
    validator's own FOCUS 1.2 model."""
    model = json.loads((_site_packages() / "focus_validator" / "rules" / "model-1.2.0.1.json").read_text())
    alternatives = {}
    for rule_id, rule in model["ModelRules"].items():
        requirement = rule.get("ValidationCriteria", {}).get("Requirement", {})
        if requirement.get("CheckFunction") == "OR":
            for item in requirement.get("Items", []):
                if item.get("CheckFunction") == "CheckModelRule":
                    alternatives[item["ModelRuleId"]] = rule_id
    return alternatives


@dataclass
class ValidatorReport:
    statuses: dict[str, str]  # rule -> PASS / FAIL / SKIPPED
    details: dict[str, str]  # rule -> the report's "(violations=..., reason=..., msg=...)"
    must_satisfy: dict[str, str]  # failed rule -> the requirement it checks
    output: str
    or_alternatives: dict[str, str] = field(default_factory=dict)

    def rules(self, status: str) -> set[str]:
        return {rule for rule, found in self.statuses.items() if found == status}

    @property
    def excused(self) -> dict[str, str]:
        """Failed rules that are one alternative of an OR rule that passed: the
        validator checks each alternative on every row (InvoiceId-C-004-C "null
        when not invoiced" and InvoiceId-C-005-C "not null when invoiced"), so
        one of them always fails while their OR, InvoiceId-C-003-C, passes."""
        return {rule: parent for rule in self.rules("FAIL")
                if (parent := self.or_alternatives.get(rule)) and self.statuses.get(parent) == "PASS"}

    @property
    def failed(self) -> set[str]:
        return self.rules("FAIL") - set(self.excused)

    def skip_reasons(self) -> Counter:
        return Counter(m.group("reason") if (m := SKIP_REASON.search(self.details.get(rule, ""))) else "?"
                       for rule in self.rules("SKIPPED"))

    def summary(self) -> str:
        """Counts, every failed rule with what it requires, the excused ones,
        and the skipped rules by reason (the not-applicable ones named)."""
        lines = [f"focus-validator {VERSION}, FOCUS {FOCUS_VERSION}: {len(self.statuses)} rules, "
                 f"{len(self.rules('PASS'))} passed, {len(self.rules('FAIL'))} failed "
                 f"({len(self.excused)} excused), {len(self.rules('SKIPPED'))} skipped"]
        lines += [f"FAILED {rule}: {self.details.get(rule, '')} | requires: {self.must_satisfy.get(rule, '?')}"
                  for rule in sorted(self.failed)]
        lines += [f"excused {rule}: alternative of {parent}, which passed ({self.details.get(rule, '')})"
                  for rule, parent in sorted(self.excused.items())]
        lines += [f"skipped, {reason}: {count}" for reason, count in self.skip_reasons().most_common()]
        not_applicable = sorted(rule for rule in self.rules("SKIPPED") if "reason=rule not applicable" in self.details[rule])
        lines.append(f"skipped as not applicable: {', '.join(not_applicable)}")
        return "\n".join(lines)


def parse_report(output: str, or_alternatives: dict[str, str] | None = None) -> ValidatorReport:
    statuses, details = {}, {}
    summary = None
    for line in output.splitlines():
        if match := RULE_LINE.match(line):
            statuses[match.group("rule")] = match.group("status")
            details[match.group("rule")] = match.group("details") or ""
        elif match := SUMMARY_LINE.match(line):
            summary = tuple(int(n) for n in match.groups())
    assert summary is not None, f"no 'Total: ... | Pass: ...' line in the focus-validator report:\n{output[-3000:]}"
    counted = (len(statuses), *(sum(1 for s in statuses.values() if s == status) for status in ("PASS", "FAIL", "SKIPPED")))
    assert counted == summary, f"read {counted} (total, pass, fail, skipped) rule lines, the report says {summary}"
    must_satisfy = {m.group("rule").rstrip(":"): m.group("text") for m in MUST_SATISFY_LINE.finditer(output)}
    return ValidatorReport(statuses, details, must_satisfy, output, or_alternatives or {})


def validate(executable: Path, data_file: Path) -> ValidatorReport:
    """Run the validator (FOCUS 1.2, its bundled rules, no download) on a CSV or Parquet file."""
    # It opens focus_validator/rules/currency_codes.csv relative to the working directory.
    completed = subprocess.run(
        [str(executable), "--data-file", str(data_file.resolve()), "--validate-version", FOCUS_VERSION,
         "--block-download", "--show-violations"],
        cwd=_site_packages(), capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"focus-validator did not run (exit {completed.returncode}):\n{output[-3000:]}"
    return parse_report(completed.stdout, _or_alternatives())


def assert_conforms(report: ValidatorReport, min_passed: int = 100) -> None:
    """No failed rule (an OR alternative whose OR passed aside), and enough rules
    run that a file the validator could not read does not pass by skipping."""
    assert not report.failed, f"focus-validator failed rules:\n{report.summary()}"
    assert len(report.rules("PASS")) >= min_passed, f"too few rules passed:\n{report.summary()}"
