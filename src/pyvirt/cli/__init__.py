"""pyvirt."""
