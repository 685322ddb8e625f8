"""Datasets: the clips a scan reads (folders, WebDataset tar shards, manifests)."""
