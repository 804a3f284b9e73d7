"""The cloud side of a deploy: Pulumi's Automation API, its session, errors, progress and plan."""
