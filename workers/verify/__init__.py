"""/cftoken verify: fetch what Cloudflare and the vault say about a token, diagnose it, and post the report."""
