"""The version of this distribution (one place; ``elasticrec.__version__`` re-exports it)."""

__version__ = "0.1.0"
