"""Measuring the tutor: the gold questions, the RAGAS evaluation and its gate, the labelled
learners and answer sentences, and the benchmarks' shared helpers and published numbers."""
