"""Device packages: the byte format (``container``, ``manifest``; spec in docs/FORMAT.md),
value encoding (``quantize``), the server-side ``builder``, ONNX export and evaluation.

``errors``, ``container``, ``manifest``, ``quantize`` and ``sizes`` import NumPy only: the
device runtime reads and writes packages with them. Nothing is imported here.
"""
