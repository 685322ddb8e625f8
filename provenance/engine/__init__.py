"""The matching engine: fingerprint references and clips, index them, find references in clips. Pure."""
