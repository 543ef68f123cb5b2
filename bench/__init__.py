"""pyvirt's side-by-side benchmarks against the real libvirt 9.0 (``python -m bench.run``)."""
