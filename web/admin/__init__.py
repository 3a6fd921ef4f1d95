"""Administration pages: regions, units, users and roles, exchange-officer registrations (admins only)."""
