"""The mock interview: the question bank, grading an answer key point by key point, hints,
follow-ups, the session and its report."""
