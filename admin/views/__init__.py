"""The admin's pages: SQLAdmin model views scoped by the access policy, and custom pages."""
