"""Our judge model (entails / contradicts / neither): loading it, building its training data
from the notes, and training it."""
