"""Accounts: users, roles, teams, API tokens, web logins."""
