"""Text → validated documents: strict YAML with line marks, layered schema checks."""
