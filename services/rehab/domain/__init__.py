"""Rehab rules, pure (no I/O): people known by pseudonym, facilities, admissions and their terms, stages,
training, reduction and discharge. Each decision returns the new state and the domain event (if any)."""
