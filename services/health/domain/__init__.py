"""Health rules, pure (no I/O): people known by pseudonym, addiction determination, methadone episodes.
Each decision returns the new state and the domain event that records it (or none when nothing leaves
health: criteria, doses, breaches and test results are never published)."""
