"""Putting images on boards: SD cards (bmaptool), eMMC via U-Boot over serial, bootloaders via Flash Writer.

Modules: ``device`` (is this block device safe to overwrite?), ``bmap`` (bmaptool wrapper), ``sd``,
``console`` (serial/pexpect plumbing), ``uboot`` (U-Boot prompt driver), ``emmc`` (chunked TFTP → block
write plan), ``partuuid`` (root partition id from the image), ``bootloader`` (Flash Writer dialogue).
"""
