"""elasticrec: train recommenders once, ship every device a model that fits its memory budget."""

from elasticrec.version import __version__

__all__ = ["__version__"]
