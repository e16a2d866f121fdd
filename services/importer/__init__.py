"""`ledger import` and `ledger export`: the shell around the pure `imports` package."""
