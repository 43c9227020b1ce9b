"""Consumers on the new value: the inventory's consumers resolved to Infisical secret syncs and Slack owners
(check.py), and the syncs of the vault folder followed after every vault write (follow.py)."""
