"""The audit: one clip with the cache, the scan loop, executors, the service's operations."""
