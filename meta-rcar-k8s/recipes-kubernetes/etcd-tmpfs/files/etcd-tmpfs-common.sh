# shellcheck shell=sh
# Shared by etcd-snapshot and etcd-restore (meta-rcar-k8s etcd-tmpfs). Every path and endpoint comes
# from the environment (the units load /etc/default/etcd-tmpfs) so tests can point them at a scratch dir.
#
# Backup layout in $ETCD_TMPFS_BACKUP_DIR:
#   snapshot-<10-digit sequence>.db        the snapshot (sequence, not date: the board may lack an RTC)
#   snapshot-<10-digit sequence>.db.info   key=value: sha256, size, kind, ca_sha256, members, created,
#                                          and one member= line per etcd member (`member list` row:
#                                          ID, status, name, peer URLs, client URLs[, is learner])
# A snapshot counts only with an .info whose sha256 matches and a clean `snapshot status`.

: "${ETCD_TMPFS_DATA_DIR:=/var/lib/etcd}"
: "${ETCD_TMPFS_BACKUP_DIR:=/var/lib/etcd-backup}"
: "${ETCD_TMPFS_KEEP:=4}"
: "${ETCD_TMPFS_MANIFEST:=/etc/kubernetes/manifests/etcd.yaml}"
: "${ETCD_TMPFS_ENDPOINT:=https://127.0.0.1:2379}"
: "${ETCD_TMPFS_CACERT:=/etc/kubernetes/pki/etcd/ca.crt}"
: "${ETCD_TMPFS_CERT:=/etc/kubernetes/pki/etcd/healthcheck-client.crt}"
: "${ETCD_TMPFS_KEY:=/etc/kubernetes/pki/etcd/healthcheck-client.key}"
: "${ETCD_TMPFS_ETCDCTL:=etcdctl}"
: "${ETCD_TMPFS_ETCDUTL:=etcdutl}"

# etcdctl's short timeouts for probing peers at boot (a dead peer costs the dial timeout)
: "${ETCD_TMPFS_PEER_TIMEOUT:=3s}"

log() { printf '%s: %s\n' "${PROG:-etcd-tmpfs}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The tool for offline snapshot work: etcdutl (3.5+; 3.6 removed these from etcdctl) or, for 3.4,
# etcdctl. Prints the command name; fails when neither is installed.
offline_tool() {
    if command -v "$ETCD_TMPFS_ETCDUTL" >/dev/null 2>&1; then
        printf '%s\n' "$ETCD_TMPFS_ETCDUTL"
    elif command -v "$ETCD_TMPFS_ETCDCTL" >/dev/null 2>&1; then
        printf '%s\n' "$ETCD_TMPFS_ETCDCTL"
    else
        return 1
    fi
}

# info_get FILE KEY: a value from an .info file ("" when absent).
info_get() { sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1; }

# info_all FILE KEY: every value of a repeated key (member=), one a line.
info_all() { sed -n "s/^$2=//p" "$1" 2>/dev/null; }

# ctl_at ENDPOINTS TIMEOUT ARGS...: etcdctl against ENDPOINTS (comma-separated) with kubeadm's
# healthcheck client certificate (kubeadm's etcd runs without etcd auth, so any client certificate
# of the etcd CA may read, snapshot and change membership).
ctl_at() {
    _e=$1
    _t=$2
    shift 2
    ETCDCTL_API=3 "$ETCD_TMPFS_ETCDCTL" --endpoints="$_e" --cacert="$ETCD_TMPFS_CACERT" \
        --cert="$ETCD_TMPFS_CERT" --key="$ETCD_TMPFS_KEY" --dial-timeout=3s --command-timeout="$_t" "$@"
}

file_sha256() { sha256sum "$1" | cut -d ' ' -f 1; }

# Fingerprint of the cluster's etcd CA: a snapshot from another cluster (after `kubeadm reset` and a
# new `kubeadm init`) must never be restored into this one.
ca_fingerprint() {
    if [ -r "$ETCD_TMPFS_CACERT" ]; then file_sha256 "$ETCD_TMPFS_CACERT"; else printf 'none\n'; fi
}

# Snapshot files, newest first.
list_snapshots() {
    for f in "$ETCD_TMPFS_BACKUP_DIR"/snapshot-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9].db; do
        [ -f "$f" ] && printf '%s\n' "$f"
    done | sort -r
}

# verify_snapshot FILE: 0 when FILE matches the sha256 in its .info and `snapshot status` reads it.
# Logs why a file is rejected.
verify_snapshot() {
    _info="$1.info"
    if [ ! -f "$_info" ]; then
        log "rejecting $1: no $1.info (interrupted write?)"
        return 1
    fi
    _want=$(info_get "$_info" sha256)
    _have=$(file_sha256 "$1") || return 1
    if [ -z "$_want" ] || [ "$_want" != "$_have" ]; then
        log "rejecting $1: sha256 $_have does not match the stored ${_want:-<none>} (corrupt or truncated)"
        return 1
    fi
    _tool=$(offline_tool) || { log "rejecting $1: neither etcdutl nor etcdctl is installed"; return 1; }
    if ! "$_tool" snapshot status "$1" >/dev/null 2>&1; then
        log "rejecting $1: '$_tool snapshot status' cannot read it"
        return 1
    fi
    return 0
}

# newest_good: path of the newest snapshot that verifies ("" and status 1 when none).
newest_good() {
    for _f in $(list_snapshots); do
        if verify_snapshot "$_f"; then
            printf '%s\n' "$_f"
            return 0
        fi
    done
    return 1
}

# manifest_flag NAME: the value of --NAME= in kubeadm's etcd static-pod manifest.
manifest_flag() {
    [ -f "$ETCD_TMPFS_MANIFEST" ] || return 0
    sed -n "s/^[[:space:]]*-[[:space:]]*[\"']\{0,1\}--$1=\([^\"']*\)[\"']\{0,1\}[[:space:]]*$/\1/p" \
        "$ETCD_TMPFS_MANIFEST" | head -n 1
}
