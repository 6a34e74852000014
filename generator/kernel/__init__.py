"""Kernel configuration for Kubernetes nodes.

* ``requirements`` — the one table: every Kconfig option a node needs, per profile (base node,
  kube-proxy mode, CNI), required or optional, why, and the upstream source that says so.
* ``versions`` — kernel version parsing and the symbols renamed/removed between kernel versions.
* ``fragments`` — renders the table into ``.cfg`` fragments for a given kernel version (the
  layer's bbappends ship them), and refuses combinations the kernel cannot run.
* ``configfile`` — reads ``.config`` / ``config.gz`` / ``/proc/config.gz`` text.
* ``check`` — ``check_config_text(text, profiles) -> Report``: the logic behind
  ``rcar-k8s check-config``.
"""
