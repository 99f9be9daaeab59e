"""Server-side export: from a trained run's tables and a selection to package bytes within
a budget (``builder``), the quality of a package through the runtime (``evaluate``) and the
ONNX export of a package (``onnx``). Nothing is imported here.
"""
