"""Build-host probes and checks for ``rcar-k8s doctor`` (and the doctor step of ``rcar-k8s build``)."""
