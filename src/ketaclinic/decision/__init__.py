"""The public decision aid: self-check, comparison, preparation, cost, enquiries."""
