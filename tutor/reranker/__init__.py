"""Training our cross-encoder reranker: training data built from the notes, and the fit.
(Reranking at query time is tutor/retrieval/.)"""
