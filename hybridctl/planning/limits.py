"""The bounds a real workload stays within, light enough for the CLI's option declarations."""

SECONDS_PER_DAY = 86_400
DAYS_PER_MONTH = 30

# Bounds a real workload stays within; past them the arithmetic stops meaning anything.
MAX_REQUESTS_PER_DAY = 100_000_000  # ~69,000 a minute
MAX_PROMPT_TOKENS = 1_000_000  # the longest context windows on sale
MAX_RESPONSE_TOKENS = 100_000
MAX_PEAK_FACTOR = 100.0
MAX_LATENCY_S = 3_600.0
MAX_BUDGET_USD = 1e9
MAX_NODES = 10_000
