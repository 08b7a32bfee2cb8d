"""The dashboard: today at a site, across the domains (appointments, sessions, stock, money)."""
