"""Rehab: facilities, admissions of each kind, stages, training, term reduction and discharge."""
