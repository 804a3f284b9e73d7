"""Deploy hybridctl stacks with Pulumi's Automation API: host keys, driver, errors."""
