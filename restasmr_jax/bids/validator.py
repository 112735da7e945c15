"""The official BIDS validator on a folder: its errors and warnings as data (BIDS 1.11).

`bids-validator-deno` (the `dev` extra) is the validator's own bundle with the
BIDS schema inside, run by the Deno runtime from the `deno` wheel: it needs no
network and no Node.  It is looked up beside the running Python (a virtual
environment's bin/) and then on PATH; missing, `ValidatorUnavailable` says how
to install it.  Every row of every TSV is checked (`--max-rows -1`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

EXECUTABLE = "bids-validator-deno"
_TIMEOUT_S = 600


class ValidatorUnavailable(RuntimeError):
    """The validator is not installed here."""


class ValidatorFailed(RuntimeError):
    """The validator ran but gave no readable report."""


@dataclass(frozen=True)
class Issue:
    severity: str  # "error" | "warning"
    code: str
    sub_code: str | None
    location: str | None
    message: str

    def describe(self) -> str:
        what = f"{self.code}{f' ({self.sub_code})' if self.sub_code else ''}"
        return f"{self.severity} {what} at {self.location or '-'}: {self.message}".rstrip(": ")


@dataclass(frozen=True)
class ValidationReport:
    issues: list[Issue]
    schema_version: str | None
    raw: dict

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    def codes(self, severity: str) -> set[tuple[str, str | None]]:
        return {(i.code, i.sub_code) for i in self.issues if i.severity == severity}


def find_validator() -> Path:
    beside = Path(sys.executable).parent / EXECUTABLE
    if beside.is_file():
        return beside
    found = shutil.which(EXECUTABLE)
    if found is None:
        raise ValidatorUnavailable(
            f"{EXECUTABLE} is not installed; pip install -e '.[dev]' (it brings the Deno runtime and the BIDS schema)"
        )
    return Path(found)


def _issues(report: dict) -> list[Issue]:
    messages = report.get("issues", {}).get("codeMessages", {})
    issues = []
    for item in report.get("issues", {}).get("issues", []):
        text = (item.get("issueMessage") or messages.get(item.get("code"), "")).strip().split("\n")[0]
        issues.append(
            Issue(
                severity=str(item.get("severity")),
                code=str(item.get("code")),
                sub_code=item.get("subCode"),
                location=item.get("location"),
                message=text,
            )
        )
    return issues


def run_validator(root: str | os.PathLike, *, recursive: bool = True) -> ValidationReport:
    """Validate `root` (and with `recursive` its derivative datasets) with every TSV row checked."""
    command = [str(find_validator()), "--format", "json", "--max-rows", "-1", "--no-color", str(root)]
    if recursive:
        command.insert(-1, "--recursive")
    env = {**os.environ, "NO_COLOR": "1", "DENO_NO_UPDATE_CHECK": "1"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise ValidatorFailed(f"{EXECUTABLE} did not finish within {_TIMEOUT_S} s on {root}") from None
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ValidatorFailed(
            f"{EXECUTABLE} exited {done.returncode} without a JSON report: {' | '.join(tail)}"
        ) from None
    return ValidationReport(
        issues=_issues(report), schema_version=report.get("summary", {}).get("schemaVersion"), raw=report
    )
