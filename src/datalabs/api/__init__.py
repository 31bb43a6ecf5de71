"""Shared HTTP glue: dependencies (database session, caller) and error responses."""
