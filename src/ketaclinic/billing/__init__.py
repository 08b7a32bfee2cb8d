"""Prices, estimates, charges, invoices, superbills and payments."""
