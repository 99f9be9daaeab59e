"""elasticrec: train recommenders once, ship every device a model that fits its memory budget."""

__version__ = "0.1.0"
