"""The version matrix: a lock file of proven-compatible node stacks, its rules and resolver."""
