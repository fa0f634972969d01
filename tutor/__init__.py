"""interview-tutor: a cited, offline tutor and mock interviewer for LLM / ML interviews."""

from tutor.config import apply_offline_environment

apply_offline_environment()
