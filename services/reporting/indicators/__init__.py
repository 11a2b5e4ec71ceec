"""Indicators of the coordination regulation as data (``catalogue.toml``), and the engine that computes
them from the steps reporting keeps. Pure: facts in, figures out."""
