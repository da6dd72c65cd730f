"""Segments (saved member filters) and targeted campaigns with their funnel."""
