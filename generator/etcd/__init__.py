"""etcd on tmpfs: tuned kubeadm settings (``tuning``), and the WAL fdatasync benchmark (``bench``)."""
