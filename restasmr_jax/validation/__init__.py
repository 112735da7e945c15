"""Technical validation of the dataset (SPEC §10): behaviour, agreement, PPG integrity, pulse rate.

Modules: `responders` (behavioural efficacy), `agreement` (leave-one-out
ISA), `integrity` (PPG signal loss), `pulse_rate` (PR vs rating), `analysis` (all analyses, no I/O), `report`
(the run folder's outputs).
"""

from restasmr_jax.validation.analysis import ValidationInputError, ValidationResult, validate
from restasmr_jax.validation.report import write_report

__all__ = ["ValidationInputError", "ValidationResult", "validate", "write_report"]
