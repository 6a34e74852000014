"""QEMU boot test: boot an arm64 node image under qemu-system-aarch64, check it is ready for ``kubeadm join``.

``machine``  builds the QEMU command line (Yocto deploy dir / explicit files, KVM or TCG)
``console``  drives the serial console with pexpect, times milestones, runs guest commands
``checks``   the "ready for kubeadm join" checks (passed / failed with evidence / skipped with reason)
``standin``  the CI stand-in: Debian arm64 image + the layer's own node files
``session``  one whole run: boot, log in, check, power off, report
"""
