"""The reference rows of a run's test trials: floor, crowd and, on a synthetic archive, the ceilings (SPEC §9.1, §12).

Every report of a run puts these rows beside its models: the condition
prior, the leave-one-out crowd and elapsed time for any archive, and for a
synthetic archive whose generator wrote its latent truth (`truth.parquet`)
the stimulus-only and participant oracles.
"""

from __future__ import annotations

import sys

from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.evidence.references import ReferenceRow, oracle_rows, standard_references
from restasmr_jax.io.archive import Archive
from restasmr_jax.synth.truth import TRUTH_FILE, TruthError, oracle_scores, read_truth


def run_references(pred: Predictions, archive: Archive | None) -> list[ReferenceRow]:
    """The rows beside every model of a run on `pred`'s test trials (oracles only where the archive holds truth)."""
    rows = standard_references(pred)
    if archive is None or archive.source != "synthetic":
        return rows
    if not (archive.root / TRUTH_FILE).is_file():
        print(
            f"[report] {archive.root} holds no {TRUTH_FILE} (a BIDS copy, or an archive written before the "
            "generator exported its truth): no oracle rows",
            file=sys.stderr,
            flush=True,
        )
        return rows
    try:
        stimulus, participant = oracle_scores(read_truth(archive.root), pred.subject, pred.video)
    except TruthError as exc:
        raise TruthError(f"{archive.root}: the latent truth does not cover this run's test trials ({exc})") from None
    return rows + oracle_rows(pred, stimulus, participant)
