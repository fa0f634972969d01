"""Answering a question from the notes: the prompt's excerpts, the streamed answer and its
`[n]` citations, and the check of every sentence against the passages."""
