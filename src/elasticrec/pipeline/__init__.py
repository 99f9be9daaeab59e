"""The pipeline: data, base model, elastic training, personalisation and streaming composed
into runs (``fit``), the public ``Run`` and ``StreamRun`` objects and their exports. The CLI,
the demo and the benchmarks call it through ``elasticrec``'s public names.
"""
