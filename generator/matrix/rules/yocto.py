"""R14-R16: the Yocto build (the Go toolchain BitBake compiles with, the series' Go, layer compat)."""

from __future__ import annotations

from collections.abc import Iterator

from generator.matrix import facts
from generator.matrix import versions as V
from generator.matrix.rules.base import ERROR, WARNING, Context, Hit, Rule


def _go_needed(ctx: Context, name: str) -> str | None:
    comp = ctx.comp(name)
    return str(comp["go"]) if comp and comp.get("go") else None


def built_components(ctx: Context) -> list[str]:
    """Components BitBake compiles with its Go: all in a source build; in a binary build only those
    without an upstream binary (Docker from meta-virtualization)."""
    names = list(facts.BUILT) + (list(facts.BUILT_DOCKER) if ctx.runtime == "docker" else [])
    if ctx.build == "source":
        return [n for n in names if ctx.comp(n)]
    return [n for n in names if ctx.comp(n) and not ctx.comp(n).get("artifacts")]


def _r14(ctx: Context) -> Iterator[Hit]:
    # The recorded `go` must not understate what upstream needs: the resolver trusts it.
    k = ctx.row.comp("kubernetes")
    known = facts.K8S_GO.data.get(ctx.minor)
    if known and k.get("go") and V.lt(k["go"], known):
        yield Hit(
            "kubernetes",
            f"kubernetes.go {k['go']} understates Go {known}, which Kubernetes {ctx.minor} is built with",
        )
    for name, lines in facts.GO_MIN.data.items():
        comp = ctx.comp(name)
        if not comp or not comp.get("go"):
            continue
        need = lines.get(V.minor(comp["version"]))
        if need and V.lt(comp["go"], need):
            yield Hit(
                name,
                f"{name}.go {comp['go']} understates the go.mod minimum {need} of {name} "
                f"{V.minor(comp['version'])}",
            )
    for name in built_components(ctx):
        need = _go_needed(ctx, name)
        if need and V.lt(ctx.go, need):
            yield Hit(
                name,
                f"{ctx.build} build compiles {name} {ctx.comp(name)['version']} which needs Go >= "
                f"{need}, but Yocto {ctx.series} provides Go {ctx.go}",
            )


def _r15(ctx: Context) -> Iterator[Hit]:
    series = ctx.yocto.get("series")
    known = facts.YOCTO.data.get(series)
    if known is None:
        yield Hit("yocto", f"Yocto series {series!r} is unknown (known: {', '.join(facts.YOCTO.data)})")
    elif str(ctx.yocto.get("go")) != known[1]:
        yield Hit("yocto", f"yocto.go {ctx.yocto.get('go')} is not OE-core {series}'s Go {known[1]}")


def _r16(ctx: Context) -> Iterator[Hit]:
    series = ctx.yocto.get("series")
    for name, layer in (ctx.yocto.get("layers") or {}).items():
        branches = facts.LAYER_COMPAT.data.get(name)
        compat = (branches or {}).get(layer.get("branch"))
        if compat is None:
            yield Hit(
                name,
                f"LAYERSERIES_COMPAT of {name} branch {layer.get('branch')} is not recorded in "
                "generator/matrix/facts.py",
                WARNING,
            )
        elif series not in compat:
            yield Hit(
                name,
                f"{name} branch {layer.get('branch')} declares LAYERSERIES_COMPAT "
                f'"{" ".join(compat)}", which lacks {series}',
            )


RULES: tuple[Rule, ...] = (
    Rule(
        "R14",
        "Go toolchain",
        "the Go BitBake has >= the go.mod `go` of every component it compiles; recorded "
        "`go` values never understate upstream's",
        facts.GO_MIN.source + "; " + facts.K8S_GO.source,
        ERROR,
        _r14,
        way_out="use --build binary (the default: upstream arm64 binaries, no Go needed), or give BitBake a "
        "newer Go (backport OE-core wrynose's go 1.26.5 recipes into a mixin layer and pass --go 1.26.5), "
        "or target --yocto wrynose",
    ),
    Rule(
        "R15",
        "Yocto Go",
        "yocto.go equals the Go OE-core ships for the series (kirkstone 1.17.13, scarthgap "
        "1.22.12, walnascar 1.24.6, whinlatter 1.25.9, wrynose 1.26.5)",
        facts.YOCTO.source,
        ERROR,
        _r15,
    ),
    Rule(
        "R16",
        "LAYERSERIES_COMPAT",
        "every pinned layer branch declares the Yocto series in LAYERSERIES_COMPAT",
        facts.LAYER_COMPAT.source,
        ERROR,
        _r16,
    ),
)
