"""Support for tests and benchmarks: GGUF model files with random weights and a real vocabulary."""
