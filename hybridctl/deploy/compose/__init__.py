"""The box on this machine: the rendered bundle run by Docker Compose, its images and models."""
