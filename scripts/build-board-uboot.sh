#!/usr/bin/env bash
# build-board-uboot.sh - build the "board command set" U-Boot oracle that tests/flash runs in QEMU.
#
# The H3 Starter Kit runs renesas-rcar/u-boot at the SRCREV meta-renesas pins (scarthgap,
# meta-rcar-gen3/recipes-bsp/u-boot/u-boot_2020.10.bb) built with rcar3_ulcb_defconfig
# (meta-rcar-gen3/conf/machine/h3ulcb.conf: UBOOT_CONFIG[r8a7795_h3ulcb]). That binary cannot run in
# QEMU, so this builds qemu_arm64_defconfig FROM THE SAME SOURCE with the board's resolved command set
# merged in: every CONFIG_CMD_* of the board's .config (set or "is not set"), its shell (HUSH_PARSER)
# and its environment options (ENV_IS_IN_MMC, SYS_MMC_ENV_DEV=1, ENV_SIZE, ENV_OFFSET,
# ENV_OVERWRITE). A command the board lacks (e.g. `part`, CMD_PART) is missing in the oracle too.
#
# Deviations, all outside the command set (listed in $OUT/deviations.txt):
#   - DISTRO_DEFAULTS off (the board does not have it; it would `select` CMD_PART & co.);
#     the qemu board header's distro boot env is replaced by the board's own bootcmd
#     (include/configs/rcar-gen3-common.h: tftp Image, tftp dtb, booti), so autoboot behaves alike.
#   - MMC=y DM_MMC=y MMC_SDHCI=y MMC_PCI=y: QEMU's sdhci-pci stands in for the SoC's SDHI controllers
#     (mmc 0 = SD slot, mmc 1 = eMMC, as on the board).
#   - CMD_GPIO, CMD_I2C, CMD_PINMUX off: they need the SoC's GPIO/I2C/pin controllers, absent on qemu;
#     the flasher types neither (cmd-diff.txt lists every CMD_* that differs).
#   - arch/arm/include/asm/gpio.h skips the SoC gpio header on ARCH_QEMU (needed by the SDHCI driver).
#   - SYS_EARLY_PCI_INIT (qemu-arm.h): PCI is scanned before MMC init, as the SDHCI sits on PCI here.
#   - SYS_MMC_ENV_PART=0 instead of 2: QEMU 7.2's sd-card has no eMMC boot partitions, so the env sits
#     in the last 128 KiB (ENV_OFFSET=0xFFFE0000 = -0x20000 via fdtdec_get_config_int) of the user area.
#
# Output (last stdout line): DIR = $RCAR_K8S_CACHE/uboot-board-<srcrev>-<script hash>/ holding
#   u-boot.bin, board.config (rcar3_ulcb_defconfig resolved), oracle.config, cmd-diff.txt,
#   deviations.txt, info.txt.  A rerun with the same script and SRCREV is instant.
# Env: MIRROR_ROOT (default /work/.mirror) with renesas-rcar+meta-renesas/repo and
#   renesas-rcar+u-boot/repo (bare git mirrors), MATRIX_META_RENESAS (meta-renesas commit; default: the
#   one generator/data/matrix.yml pins), RCAR_K8S_CACHE (default ~/.cache/rcar-k8s).
# Needs: gcc-aarch64-linux-gnu, bison, flex, libssl-dev, python3 (scripts/ci-packages.txt).
set -euo pipefail

SELF=$(readlink -f "$0")
HERE=$(dirname "$SELF")
MIRROR_ROOT=${MIRROR_ROOT:-/work/.mirror}
META=$MIRROR_ROOT/renesas-rcar+meta-renesas/repo
UBOOT=$MIRROR_ROOT/renesas-rcar+u-boot/repo
CACHE=${RCAR_K8S_CACHE:-$HOME/.cache/rcar-k8s}
log() { printf '[build-board-uboot %4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -d "$META" ] || die "no meta-renesas mirror at $META (set MIRROR_ROOT)"
[ -d "$UBOOT" ] || die "no renesas-rcar/u-boot mirror at $UBOOT (set MIRROR_ROOT)"
if [ -z "${MATRIX_META_RENESAS:-}" ]; then
    MATRIX_META_RENESAS=$(awk '/^    meta-renesas:/{f=1} f&&/commit:/{print $2; exit}' "$HERE/../generator/data/matrix.yml")
fi
RECIPE=meta-rcar-gen3/recipes-bsp/u-boot/u-boot_2020.10.bb
SRCREV=$(git --git-dir="$META" show "$MATRIX_META_RENESAS:$RECIPE" | sed -n 's/^SRCREV = "\([0-9a-f]*\)"/\1/p')
DEFCONFIG=$(git --git-dir="$META" show "$MATRIX_META_RENESAS:meta-rcar-gen3/conf/machine/h3ulcb.conf" \
    | sed -n 's/^UBOOT_CONFIG\[r8a7795_h3ulcb\] = "\(.*\)"/\1/p')
if [ -z "$SRCREV" ] || [ -z "$DEFCONFIG" ]; then die "cannot read SRCREV/UBOOT_CONFIG from meta-renesas $MATRIX_META_RENESAS"; fi
git --git-dir="$UBOOT" cat-file -e "$SRCREV^{commit}" 2>/dev/null || die "u-boot mirror lacks $SRCREV"

KEY=$(sha256sum "$SELF" | cut -c1-12)
OUT=$CACHE/uboot-board-${SRCREV:0:12}-$KEY
if [ -s "$OUT/u-boot.bin" ] && [ -s "$OUT/info.txt" ]; then echo "$OUT"; exit 0; fi
command -v aarch64-linux-gnu-gcc >/dev/null || die "aarch64-linux-gnu-gcc missing: apt install gcc-aarch64-linux-gnu"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/board-uboot.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log "meta-renesas $MATRIX_META_RENESAS: u-boot SRCREV $SRCREV, $DEFCONFIG"
git --git-dir="$UBOOT" archive "$SRCREV" | tar -x -C "$WORK" -f -
cd "$WORK"
MK=(make -s ARCH=arm CROSS_COMPILE=aarch64-linux-gnu- -j"$(nproc)")

"${MK[@]}" O=board "$DEFCONFIG" >/dev/null
"${MK[@]}" O=qemu qemu_arm64_defconfig >/dev/null

# The board's command set and environment, verbatim from its resolved .config.
{
    grep -E '^(# )?CONFIG_CMD_[A-Z0-9_]+(=| is not set)' board/.config
    grep -E '^(# )?CONFIG_(HUSH_PARSER|SYS_PROMPT|ENV_SIZE|ENV_OFFSET|ENV_OVERWRITE|ENV_IS_IN_[A-Z_]+|SYS_MMC_ENV_DEV|SYS_RELOC_GD_ENV_ADDR|BOOTDELAY|AUTOBOOT)[= ]' board/.config
    cat <<'EOF'
# CONFIG_DISTRO_DEFAULTS is not set
# CONFIG_CMD_GPIO is not set
# CONFIG_CMD_I2C is not set
# CONFIG_CMD_PINMUX is not set
CONFIG_DM_GPIO=y
CONFIG_MMC=y
CONFIG_DM_MMC=y
CONFIG_MMC_SDHCI=y
CONFIG_MMC_PCI=y
CONFIG_SYS_MMC_ENV_PART=0
CONFIG_USE_BOOTCOMMAND=y
CONFIG_BOOTCOMMAND="tftp 0x48080000 Image; tftp 0x48000000 Image-r8a77950-ulcb.dtb; booti 0x48080000 - 0x48000000"
EOF
} > fragment.config
# The qemu board header pulls in distro boot for USB/SCSI/VIRTIO, whose commands the board lacks.
sed -i -e '/#include <config_distro_bootcmd.h>/d' -e 's/^\tBOOTENV$/\t""/' include/configs/qemu-arm.h
# PCI must be enumerated before MMC init so the env (ENV_IS_IN_MMC) and `mmc dev 1` find the
# sdhci-pci controllers; the board's SDHI sit on the SoC bus and need no such step.
printf '#define CONFIG_SYS_EARLY_PCI_INIT\n' >> include/configs/qemu-arm.h
sed -i 's/^#endif \/\* __CONFIG_H \*\/$//' include/configs/qemu-arm.h
printf '#endif\n' >> include/configs/qemu-arm.h
echo CONFIG_SYS_EARLY_PCI_INIT >> scripts/config_whitelist.txt  # a legacy header option, not Kconfig
LC_ALL=C sort -u -o scripts/config_whitelist.txt scripts/config_whitelist.txt
# sdhci.h includes asm/gpio.h, which wants a SoC gpio header qemu has none of (as on the listed SoCs).
sed -i 's/!defined(CONFIG_ARCH_UNIPHIER)/!defined(CONFIG_ARCH_QEMU) \&\& &/' arch/arm/include/asm/gpio.h
KCONFIG_CONFIG=qemu/.config scripts/kconfig/merge_config.sh -m qemu/.config fragment.config >/dev/null
"${MK[@]}" O=qemu olddefconfig >/dev/null
# Commands qemu_arm64 has but the board's .config does not even mention (their dependencies are off
# there, e.g. CMD_VIRTIO, CMD_NVME, CMD_MTD): switch them off too, then resolve again.
grep -E '^CONFIG_CMD_[A-Z0-9_]+=' qemu/.config | cut -d= -f1 | while read -r sym; do
    grep -qE "^$sym=" board/.config || echo "# $sym is not set"
done > extra-off.config
KCONFIG_CONFIG=qemu/.config scripts/kconfig/merge_config.sh -m qemu/.config extra-off.config >/dev/null
"${MK[@]}" O=qemu olddefconfig >/dev/null

# Prove the merge: every CMD_* the board has or lacks is the same in the oracle.
norm() { grep -E '^(# )?CONFIG_CMD_' "$1" | sed -E 's/^# (CONFIG_[A-Z0-9_]+) is not set/\1=n/' | sort; }
join -t= -a1 -a2 -e MISSING -o 0,1.2,2.2 <(norm board/.config) <(norm qemu/.config) \
    | awk -F= '$2 != $3 && !($2=="n" && $3=="MISSING") && !($2=="MISSING" && $3=="n")' > cmd-diff.txt || true
# Commands the flasher types must match exactly; anything else that differs is recorded.
for c in MMC NET DHCP ECHO NVEDIT_INFO CRC32 EXT4 EXT2 FS_GENERIC PART BOOTI SAVEENV; do
    if grep -q "^CONFIG_CMD_$c=" cmd-diff.txt; then die "CMD_$c differs from the board: $(grep "^CONFIG_CMD_$c=" cmd-diff.txt)"; fi
done
log "building u-boot.bin (qemu_arm64 + board command set)"
start=$SECONDS
"${MK[@]}" O=qemu >/dev/null
mkdir -p "$OUT"
cp qemu/u-boot.bin "$OUT/u-boot.bin"
cp board/.config "$OUT/board.config"
cp qemu/.config "$OUT/oracle.config"
cp cmd-diff.txt "$OUT/cmd-diff.txt"
sed -n '/^# Deviations/,/^#$/p' "$SELF" > "$OUT/deviations.txt"
{
    echo "meta_renesas=$MATRIX_META_RENESAS"
    echo "srcrev=$SRCREV"
    echo "defconfig=$DEFCONFIG"
    echo "build_seconds=$((SECONDS - start))"
    echo "cmd_part_board=$(grep -E 'CONFIG_CMD_PART[ =]' board/.config)"
    echo "cmd_part_oracle=$(grep -E 'CONFIG_CMD_PART[ =]' qemu/.config)"
} > "$OUT/info.txt"
log "done: $OUT ($(wc -l < cmd-diff.txt) CMD_* options differ, see cmd-diff.txt)"
echo "$OUT"
