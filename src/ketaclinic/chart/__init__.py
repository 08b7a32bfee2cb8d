"""The patient's chart as staff see it: the pages and the JSON API over the record.

They sit above the patients domain because the request gate they use resolves a login through
the accounts, and the accounts know their patients (a patient's own login, emergency access).
"""
