"""Rule files: their schema, their validation, and their compilation into durable_rules."""
