"""Topics, event schemas and their serialization."""
