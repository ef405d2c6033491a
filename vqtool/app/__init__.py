"""The application layer: the demo, benchmarks, the report, the Python API and `info`.

Each composes the layers below (train, eval, pipeline, data, core); commands render them."""
