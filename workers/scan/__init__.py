"""The scan: every inventory token's expiry and health, the alerts that post each problem once, and the digest."""
