"""tinyml: neural networks compiled to plain C for Cortex-M, verified bit for bit."""

__version__ = "0.1.0"
