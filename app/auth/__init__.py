"""Accounts (issue 7): users file, login guard, role checks on store writes, login slow-down."""
