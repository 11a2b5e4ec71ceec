"""Registry (police): people detected using drugs illegally, their positive tests and the management list."""
