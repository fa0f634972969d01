"""The knowledge base on disk: documents read and cleaned, chunked, embedded and indexed
(Qdrant Edge in-process, or a Qdrant server), incrementally and without losing anything."""
