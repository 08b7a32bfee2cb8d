"""The patient portal: a patient's own record, bills, receipts and messages, across the domains."""
