"""The wire formats: queue bodies and received emails, parsed strictly into domain objects."""
