"""The `azure` target's infrastructure: names are in `modelops.naming`, request bodies in `requests`,
the calls that send them (idempotent, one per activity) in `operations`."""
