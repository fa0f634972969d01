"""Finding the passages for a question: hybrid search (BM25 + dense, fused) and the
cross-encoder reranker, with the bundled models they load."""
