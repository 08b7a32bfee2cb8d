"""Logging in and out, one's own account, managing users and API tokens: the pages and the API
over the auth service."""
