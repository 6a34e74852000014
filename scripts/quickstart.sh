#!/usr/bin/env bash
# Set up rcar-k8s in ./.venv and run the main job on the committed matrix, offline:
# validate the lock file, resolve the default stack, and (re)generate meta-rcar-k8s/ and kas/.
# Then `kas build kas/rcar-h3-k8s.yml` on a build host with network builds the image.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .

rk=.venv/bin/rcar-k8s
default=$(.venv/bin/python -c 'from generator.matrix.model import load_matrix; print(load_matrix().default)')
echo "== rcar-k8s matrix check"
"$rk" matrix check
echo "== rcar-k8s matrix resolve --k8s $default"
"$rk" matrix resolve --k8s "$default"
echo "== rcar-k8s generate"
"$rk" generate
echo "== rcar-k8s generate --check"
"$rk" generate --check
cat <<'EOT'

Next, on a build host with network (see docs/building.md):
    . .venv/bin/activate                                   # kas is in .venv/bin
    rcar-k8s doctor
    kas build kas/rcar-h3-k8s.yml                          # worker image for h3ulcb
    kas build kas/rcar-h3-k8s.yml:kas/include/k8s-1.35.yml # same, Kubernetes 1.35 stack
EOT
