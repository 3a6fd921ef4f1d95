"""More administration pages: the working-day calendar and the policy overrides (admins only)."""
