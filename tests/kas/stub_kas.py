# ruff: noqa: E501  (verbatim BitBake output lines)
"""A stand-in `kas` for build/check tests: records how it was called, prints real BitBake lines.

The message formats are copied from poky scarthgap bitbake/lib/bb/ui/knotty.py and runqueue.py
(non-interactive knotty output, which is what kas shows when its stdout is a pipe).
Scenario from $STUB_KAS_SCENARIO: success (default), fail, crash, parse-error.
"""

import json
import os
import sys

SCENARIO = os.environ.get("STUB_KAS_SCENARIO", "success")
B = "/home/user/work/build"
L = "/home/user/work"
KUBE = f"{L}/meta-virtualization/recipes-containers/kubernetes/kubernetes_git.bb"
KLOG = f"{B}/tmp/work/cortexa57-poky-linux/kubernetes/v1.36.4+git/temp/log.do_compile.4242"
NATIVE = f"virtual:native:{L}/poky/meta/recipes-devtools/go/go-native_1.22.12.bb"

if sys.argv[1:] == ["--version"]:
    print("kas 5.5 (configuration format version 23, earliest compatible version 1)")
    sys.exit(0)
with open(os.environ["STUB_KAS_RECORD"], "a") as rec:
    rec.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(),
                          "premirrors": os.environ.get("KAS_PREMIRRORS")}) + "\n")

out = sys.stdout
def p(s):
    out.write(s + "\n")
    out.flush()

p("2026-11-25 18:27:00 - INFO     - kas 5.5 started")
p("2026-11-25 18:27:00 - INFO     - Repository poky checked out to 1d54d1c4736a114e1cecbe85a0306e3814d5ce70")
if sys.argv[1] == "checkout":
    sys.exit(0)
p("Loading cache...done.")
p("Loaded 0 entries from dependency cache.")
if SCENARIO == "parse-error":
    p(f"ERROR: ParseError at {L}/meta-rcar-k8s/recipes-core/images/rcar-k8s-node-image.bb:3: "
      "Could not inherit file classes/nosuch.bbclass")
    p("ERROR: Parsing halted due to errors, see error messages above")
    sys.exit(1)
p("Parsing of 2954 .bb files complete (0 cached, 2954 parsed). 4215 targets, 165 skipped, 0 masked, 0 errors.")
if sys.argv[1] == "shell":
    cmd = sys.argv[-1]
    if "bitbake -g" in cmd:
        p("NOTE: PN build list saved to 'pn-buildlist'")
        p("NOTE: Task dependencies saved to 'task-depends.dot'")
        image = cmd.split()[-1]
        if SCENARIO == "fail":
            found = {"kubeadm": "kubernetes", "kernel": "linux-renesas"}
            missing = {"cni": "not installed by the image (none of cni/cni-plugins/containernetworking-plugins)"}
        else:
            found = {"kubeadm": "kubernetes", "kubelet": "kubernetes", "containerd": "containerd-opencontainers",
                     "runc": "runc-opencontainers", "cni": "cni", "kernel": "linux-renesas"}
            missing = {}
        p("PROBE " + json.dumps({"image": image, "tasks": 6020, "recipes": 373, "installed": 122,
                                 "found": found, "missing": missing}))
        sys.exit(1 if missing else 0)
    sys.exit(0)
p("NOTE: Resolving any missing task queue dependencies")
p("Initialising tasks...done.")
p("Sstate summary: Wanted 2 Local 0 Mirrors 0 Missed 2 Current 0 (0% match, 0% complete)")
p(f"NOTE: Running setscene task 1 of 2 ({NATIVE}:do_populate_sysroot_setscene)")
p(f"NOTE: Running setscene task 2 of 2 ({KUBE}:do_package_setscene)")
p("NOTE: Executing Tasks")
p(f"NOTE: Running task 1 of 3 ({NATIVE}:do_fetch)")
p("NOTE: recipe go-native-1.22.12-r0: task do_fetch: Started")
p("NOTE: recipe go-native-1.22.12-r0: task do_fetch: Succeeded")
p(f"NOTE: Running task 2 of 3 ({KUBE}:do_compile)")
p("NOTE: recipe kubernetes-v1.36.4+git-r0: task do_compile: Started")
if SCENARIO == "crash":
    p("ERROR: Unable to connect to bitbake server, or start one (server startup failures would be in bitbake-cookerdaemon.log).")
    sys.exit(1)
if SCENARIO == "fail":
    p(f"ERROR: kubernetes-v1.36.4+git-r0 do_compile: Execution of '{B}/tmp/work/cortexa57-poky-linux/kubernetes/v1.36.4+git/temp/run.do_compile.4242' failed with exit code 1")
    p(f"ERROR: Logfile of failure stored in: {KLOG}")
    p("Log data follows:")
    p("| DEBUG: Executing shell function do_compile")
    p("| go: downloading k8s.io/api v0.36.4")
    p("| WARNING: exit code 1 from a shell command.")
    p(f"ERROR: Task ({KUBE}:do_compile) failed with exit code '1'")
    p("NOTE: Tasks Summary: Attempted 2 tasks of which 0 didn't need to be rerun and 1 failed.")
    p("")
    p("Summary: 1 task failed:")
    p(f"  {KUBE}:do_compile")
    p(f"    log: {KLOG}")
    p("Summary: There was 1 ERROR message, returning a non-zero exit code.")
    p("2026-11-25 20:27:00 - ERROR    - Command returned non-zero exit status 1")
    sys.exit(1)
p("NOTE: recipe kubernetes-v1.36.4+git-r0: task do_compile: Succeeded")
p(f"NOTE: Running noexec task 3 of 3 ({L}/meta-rcar-k8s/recipes-core/images/rcar-k8s-node-image.bb:do_build)")
p("NOTE: Tasks Summary: Attempted 3 tasks of which 0 didn't need to be rerun and all succeeded.")
sys.exit(0)
