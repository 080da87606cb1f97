"""The web admin: Starlette + SQLAdmin at /admin, signed in by a one-time link from the bot (`create_app`)."""
