"""The pinned node runtime (containerd, runc, CNI plugins, crictl) built from source for tests only."""
