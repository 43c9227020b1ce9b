"""The operations that change a token (roll, overlap, revoke, provision), their dry run and the machine they share."""
