"""The stores: SQLite (WAL), the vault for secrets, the audit log, consents, credits, cart, grants.

Every write that binds someone is one transaction here before anyone is told."""
