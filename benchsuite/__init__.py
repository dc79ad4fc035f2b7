"""benchsuite: measure what an accelerator really does on deep-learning work."""

__version__ = "0.1.0"
