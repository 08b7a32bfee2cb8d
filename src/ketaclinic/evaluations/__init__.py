"""Pre-treatment evaluations: screening records, prescriber sign-off, consent, rule overrides."""
