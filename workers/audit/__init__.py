"""Cloudflare's audit log at work: a token's blast radius for a revoke, its recent changes for verify and
history, and changes to tokens made outside the bot (the scan); Infisical's secrets.modified events."""
