"""Learner memory: what each learner asked and answered, review cards (FSRS) and the
readiness map, in SQLite."""
