"""Dining areas and tables, their state, and the signed table QR codes diners scan."""
