"""Deploy hybridctl stacks with Pulumi's Automation API: host keys, records, driver, errors."""
