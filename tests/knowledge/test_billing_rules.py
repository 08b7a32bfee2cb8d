"""The billing table handed out as typed rules: currency, rounding, codes, the IV drug line and
when a prior authorisation is needed and warned about."""

from ketaclinic.knowledge import billing as rules


def test_billing_rules_are_typed_and_match_the_table() -> None:
    row = rules.table()
    assert rules.currency() == row["currency"] == "USD"
    assert rules.rounding() == row["rounding"]
    assert rules.code_names() == list(row["codes"])
    assert rules.iv_drug_code() in rules.code_names()
    rule = rules.authorization_rule()
    assert rule.routes == ("esketamine",) and rule.source
    assert rule.warn_days_before_expiry == row["prior_authorization"]["warn_days_before_expiry"]
    assert rule.warn_sessions_left == row["prior_authorization"]["warn_sessions_left"]
