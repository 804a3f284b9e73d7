"""The host side of `hybridctl bench`: where it runs, over which SSH link, with which load test."""
