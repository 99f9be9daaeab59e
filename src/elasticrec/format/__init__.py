"""The device package format (spec in docs/FORMAT.md): the byte container, the manifest,
value encoding (``quantize``), exact sizes and the format's errors.

Every module here imports NumPy only: the device runtime reads and writes packages with them,
and the server-side builder (``elasticrec.export``) writes them. Nothing is imported here.
"""
