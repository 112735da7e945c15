"""The stage clock of a run: wall seconds per stage, across resumed attempts (SPEC §7)."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from restasmr_jax.manifest import MANIFEST_FILE


@dataclass
class Timings:
    """Wall seconds per stage of this attempt, and the attempts before it (a resumed run)."""

    seconds: dict = field(default_factory=dict)
    earlier: list = field(default_factory=list)  # [{"status", "stage_seconds"}] of previous attempts

    @classmethod
    def for_run(cls, run_dir: Path) -> Timings:
        path = Path(run_dir) / MANIFEST_FILE
        earlier = json.loads(path.read_text()).get("attempts", []) if path.exists() else []
        return cls(earlier=earlier)

    def attempts(self, status: str) -> list:
        return [*self.earlier, {"status": status, "stage_seconds": dict(self.seconds)}]

    def merged(self) -> dict:
        """Latest seconds of every stage any attempt ran (skipped stages keep their earlier time)."""
        out = {}
        for attempt in self.attempts(""):
            out.update(attempt["stage_seconds"])
        return out

    @contextmanager
    def stage(self, name: str, progress: bool = True):
        if progress:
            print(f"[pipeline] {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
