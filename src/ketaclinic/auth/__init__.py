"""Users, roles, login, tokens, two-factor and the permission table."""
