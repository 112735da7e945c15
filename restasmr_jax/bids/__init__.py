"""The archive as a BIDS 1.11 dataset: events, physio, participants, stimuli, derivatives (SPEC §1-§3).

`export.export_bids` writes it; `io.bids` reads it back for every command's
`--data-dir`; `validator.run_validator` checks it with the official BIDS validator.
"""
