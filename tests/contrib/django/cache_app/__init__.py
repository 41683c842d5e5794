"""Django's cache test app (vendored), for running BaseCacheTests against FreightCache."""
