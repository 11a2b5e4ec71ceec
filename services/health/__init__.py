"""Health: addiction determination (Circular 18/2021) and methadone treatment (Decree 90/2016)."""
