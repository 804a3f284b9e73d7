"""Deploy a box: the request (request_build), a driver per provider (deployers), three rooms."""
