"""Helpers the meta-rcar-k8s templates call (``{{ gen.layer.node_files.content(row, path) }}``)."""
