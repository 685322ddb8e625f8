"""Media: probe files, decode sampled frames."""
