"""The host side of `hybridctl bench`: what to measure, where it runs, how it is judged, tuning."""
