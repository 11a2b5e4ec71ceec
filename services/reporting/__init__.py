"""Reporting: the steering committee's read model, built only from the departments' events."""
