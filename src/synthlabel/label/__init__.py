"""label layer."""
