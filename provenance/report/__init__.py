"""The report: exposure, outputs for pipelines, the HTML page."""
