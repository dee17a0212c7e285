"""The FinOps Foundation's focus-validator, in its own virtualenv.

focus-validator 1.0.0 pins old pandera and numpy releases, so it never goes
into the project's environment: a session fixture creates
.cache/focus-validator-venv once and reuses it. When the package registry
cannot be reached the validator tests skip, unless
COST_REQUIRE_FOCUS_VALIDATOR=1 (CI) turns that into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

VERSION = "1.0.0"
REQUIREMENTS = [f"focus-validator=={VERSION}", "multimethod<1.11"]
VENV = Path(__file__).resolve().parents[2] / ".cache" / "focus-validator-venv"
READY_MARKER = VENV / f"installed-focus-validator-{VERSION}"
# Rules the report may skip, with why. SkuPriceId_Nullable queries ChargeType,
# the pre-1.0 name of ChargeCategory, so it cannot run on a FOCUS 1.0 data set;
# and daily rows span many SKU prices anyway.
SKIPPED_RULES = {"SkuPriceId_Nullable"}


@pytest.fixture(scope="session")
def focus_validator() -> Path:
    """The focus-validator executable, installed on first use."""
    if not READY_MARKER.exists():
        shutil.rmtree(VENV, ignore_errors=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, text=True, timeout=300)
            subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", *REQUIREMENTS],
                           check=True, capture_output=True, text=True, timeout=900)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(VENV, ignore_errors=True)
            output = (getattr(exc, "stderr", None) or getattr(exc, "stdout", None) or str(exc))
            reason = f"cannot install {' '.join(REQUIREMENTS)} into {VENV}: {str(output)[-1500:]}"
            if os.environ.get("COST_REQUIRE_FOCUS_VALIDATOR") == "1":
                pytest.fail(f"focus-validator is required (COST_REQUIRE_FOCUS_VALIDATOR=1) but {reason}")
            pytest.skip(reason)
        READY_MARKER.write_text(" ".join(REQUIREMENTS) + "\n")
    return VENV / "bin" / "focus-validator"


@dataclass
class ValidatorReport:
    statuses: dict[str, str]  # rule -> passed / failed / errored / skipped
    messages: dict[str, str]
    output: str

    def rules(self, status: str) -> set[str]:
        return {rule for rule, found in self.statuses.items() if found == status}


def validate(executable: Path, data_file: Path, work_dir: Path, version: str = "1.0") -> ValidatorReport:
    """Run the validator on a CSV file. It exits 0 even when rules fail, so the
    result is read from its JUnit-style report, one test case per rule."""
    report = work_dir / "focus-validator-report.xml"
    overrides = work_dir / "focus-validator-overrides.yaml"
    overrides.write_text("overrides:\n" + "".join(f"  - {rule}\n" for rule in sorted(SKIPPED_RULES)))
    # It reads its currency list from a path relative to its site-packages folder.
    site_packages = next((VENV / "lib").glob("python*/site-packages"))
    completed = subprocess.run(
        [str(executable), "--data-file", str(data_file.resolve()), "--validate-version", version,
         "--override-file", str(overrides), "--output-type", "unittest", "--output-destination", str(report)],
        cwd=site_packages, capture_output=True, text=True, timeout=600,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0 and report.exists(), f"focus-validator did not run:\n{output}"
    statuses, messages = {}, {}
    for case in ET.parse(report).getroot().iter("testcase"):
        rule = case.get("name").split(" :: ")[0]
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        statuses[rule] = {"failure": "failed", "error": "errored", "skipped": "skipped"}.get(
            outcome.tag if outcome is not None else "", "passed")
        messages[rule] = outcome.get("message", "") if outcome is not None else ""
    return ValidatorReport(statuses=statuses, messages=messages, output=output)
