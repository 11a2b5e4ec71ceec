"""Aftercare rules without I/O: terms, placement, support, relapse, certificate, transfer, commune models."""
