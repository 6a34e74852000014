"""Render the templates tree (``generator/templates/``) into the committed outputs."""
