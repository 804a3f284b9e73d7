"""The standalone bench: runs on the box with only the standard library, llama_cpp and psutil.

Nothing here may import the rest of hybridctl (or pydantic, yaml, pulumi ...): the package is
shipped alone as a zipapp (`hybridctl.bench.zipapp.build`) and run with `python3 bench.pyz`.
"""
