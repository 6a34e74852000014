"""The Flash Writer stand-in and `flash bootloader` against flash_writer's own C sources.

Everything Flash Writer says goes through common.c: PutStr(str, rtn) (rtn == 1 appends CR LF),
PutMess (PutStr(line, ENB_RTN) per line), PutChar, DelStr and Data2HexAscii. These tests read the
sources at the commit tests/flash/flashwriter.py pins (SOURCE_TAG/SOURCE_COMMIT) out of the bare
mirror with ``git show REV:path``, run them through a small C preprocessor for the ULCB build
(makefile BOARD=ULCB) and check:

- every literal the stand-in prints, with its line ending, is a PutStr/PutMess of that build;
- the stand-in's line primitives (PutStr, GetStr's LF CR, DelStr, the first-key CR) do what the C does;
- every text generator/flash/bootloader.py waits for or recognises (prompt, header, switch prompts,
  clear question, " complete!", Save Information, the speed-change line, each ERRORS entry) matches
  what the C functions print, composed in their statement order with their line endings.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from generator.flash import bootloader
from tests.flash import flashwriter
from tests.flash.flashwriter import FlashWriter

MIRROR_ROOT = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror"))
FW_GIT = MIRROR_ROOT / "renesas-rcar+flash_writer" / "repo"
PREPARE = (
    f"git clone --mirror https://github.com/renesas-rcar/flash_writer {FW_GIT} (or the `fetch` "
    f"of github:renesas-rcar/flash_writer), MIRROR_ROOT={MIRROR_ROOT}"
)
REV = flashwriter.SOURCE_COMMIT
# makefile BOARD=ULCB: -DRCAR_GEN3_ULCB=1 -DRCAR_GEN3_SALVATOR=1; SERIAL_FLASH and EMMC default ENABLE;
# USB=DISABLE ("USB download function can not be used with the starter kit").
DEFINES = {"RCAR_GEN3_SALVATOR": 1, "RCAR_GEN3_ULCB": 1, "SERIAL_FLASH": 1, "EMMC": 1, "USB_ENABLE": 0}
HEX = "0004A5C0"  # stands for any Data2HexAscii(value, buf, 4) output: 8 upper-case hex digits
STANDIN = Path(flashwriter.__file__)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={FW_GIT}", *args], check=True, capture_output=True, text=True, errors="replace"
    ).stdout


@pytest.fixture(scope="module", autouse=True)
def mirror() -> None:
    if not (FW_GIT / "HEAD").is_file():
        pytest.skip(f"skipped: no flash_writer mirror at {FW_GIT} (prepare with: {PREPARE})")
    try:
        _git("cat-file", "-e", f"{REV}^{{commit}}")
    except subprocess.CalledProcessError:
        pytest.skip(
            f"skipped: the flash_writer mirror at {FW_GIT} lacks {flashwriter.SOURCE_TAG} "
            f"({REV}) (prepare with: git --git-dir={FW_GIT} fetch --tags origin)"
        )


@cache
def source(path: str) -> str:
    """One file at the pinned commit, comments removed, preprocessed for the ULCB build."""
    return preprocess(strip_comments(_git("show", f"{REV}:{path}")))


@cache
def c_files() -> tuple[str, ...]:
    return tuple(p for p in _git("ls-tree", "-r", "--name-only", REV).split() if p.endswith(".c"))


# --- a C reader just big enough for these sources ---------------------------------------------
LEXEME = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|//[^\n]*|/\*.*?\*/', re.S)


def strip_comments(src: str) -> str:
    # Commented-out PutStr calls are common in these sources ("//	PutStr(\"Address Input Error\",1);").
    return LEXEME.sub(lambda m: " " if m.group(0)[0] == "/" else m.group(0), src)


def _cond(expr: str, macros: dict[str, str]) -> bool:
    py = re.sub(r"defined\s*\(?\s*(\w+)\s*\)?", lambda m: str(m.group(1) in macros), expr)
    py = py.replace("&&", " and ").replace("||", " or ")
    py = re.sub(r"!(?!=)", " not ", py)
    py = re.sub(
        r"\b(?!True\b|False\b|and\b|or\b|not\b)([A-Za-z_]\w*)\b",
        lambda m: macros.get(m.group(1), "0") or "1",
        py,
    )
    return bool(eval(py, {"__builtins__": {}}))  # noqa: S307 (an #if line of a pinned source)


DEFINED: dict[str, str] = {}  # every #define seen by preprocess(), for c_string()'s macro names


def preprocess(src: str) -> str:
    """#if/#ifdef/#ifndef/#elif/#else/#endif with DEFINES; #define of simple macros is recorded."""
    macros = {k: str(v) for k, v in DEFINES.items()}
    out, stack = [], []  # stack: (this branch active, some branch taken, parent active)
    for line in src.splitlines():
        m = re.match(r"\s*#\s*(ifdef|ifndef|if|elif|else|endif|define)\b\s*(.*)", line)
        active = all(s[0] for s in stack)
        if not m:
            out.append(line if active else "")
            continue
        kind, rest = m.group(1), m.group(2).strip()
        if kind in ("ifdef", "ifndef", "if"):
            val = (
                (rest.split()[0] in macros)
                if kind == "ifdef"
                else (rest.split()[0] not in macros)
                if kind == "ifndef"
                else _cond(rest, macros)
            )
            stack.append([active and val, val, active])
        elif kind == "elif":
            st = stack[-1]
            val = not st[1] and _cond(rest, macros)
            st[0], st[1] = st[2] and val, st[1] or val
        elif kind == "else":
            st = stack[-1]
            st[0], st[1] = st[2] and not st[1], True
        elif kind == "endif":
            stack.pop()
        elif kind == "define" and active:
            name, value = (rest.split(None, 1) + [""])[:2]
            macros[name] = DEFINED[name] = value.strip()
        out.append("")
    return "\n".join(out)


def c_string(expr: str) -> str:
    """Adjacent string literals and macros that expand to them ("..." SOC_NAME "...")."""
    parts = []
    for lit, name in re.findall(r'"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*)', expr):
        if name:
            parts.append(c_string(DEFINED[name]))
        else:
            parts.append(lit.encode("latin-1").decode("unicode_escape"))
    return "".join(parts)


def _args(src: str, start: int) -> tuple[list[str], int]:
    """Top-level arguments of the call whose '(' is at src[start]; string literals respected."""
    depth, i, args, cur = 0, start, [], []
    while True:
        c = src[i]
        if c == '"':
            end = LEXEME.match(src, i).end()
            cur.append(src[i:end])
            i = end
            continue
        if c == "(":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(cur).strip())
                return args, i + 1
        elif c == "," and depth == 1:
            args.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1


def body(path: str, func: str) -> str:
    src = source(path)
    m = re.search(rf"\b{func}\s*\([^;{{)]*\)\s*\{{", src)
    assert m, f"{func} not in {path}@{REV}"
    depth, i = 0, m.end() - 1
    while True:
        if src[i] == '"':
            i = LEXEME.match(src, i).end()
            continue
        depth += {"{": 1, "}": -1}.get(src[i], 0)
        i += 1
        if depth == 0:
            return src[m.end() : i - 1]


RTN = {"0": 0, "1": 1, "DIS_RTN": 0, "ENB_RTN": 1}
CODES = {"CR_CODE": "\r", "LF_CODE": "\n", "BS_CODE": "\b", "SP_CODE": " "}


def said(src: str) -> str:
    """What a stretch of C prints, statement by statement as written (branches are not taken: use
    it on straight-line code or to find a sequence that some path prints)."""
    out = []
    for m in re.finditer(r"\b(PutStr|PutChar|DelStr)\s*\(", src):
        args, _ = _args(src, m.end() - 1)
        if m.group(1) == "PutStr":
            # XLoadSpiflash0_2's (mode == 0U ? xls2 : xls3) text: the first is xls2's
            text = c_string(_alternatives(args[0])[0]) if '"' in args[0] else HEX
            out.append(text + "\r\n" * RTN[args[1]])
        elif m.group(1) == "PutChar":
            out.append(CODES.get(args[0], ""))
        else:
            n = int(args[0])
            out.append("\b" * n + " " * n + "\b" * n)
    return "".join(out)


def _alternatives(expr: str) -> list[str]:
    """`(cond ? "a" : "b")` -> ['"a"', '"b"']; anything else -> [expr]. '?' and ':' inside string
    literals do not count."""
    blank = LEXEME.sub(lambda m: "_" * len(m.group(0)), expr)
    if "?" not in blank:
        return [expr]
    q = blank.index("?")
    c = blank.index(":", q)
    return [expr[q + 1 : c], expr[c + 1 :]]


@cache
def put_strs() -> frozenset[tuple[str, int]]:
    """Every (literal, rtn) PutStr of the ULCB build; a ternary gives both of its literals."""
    found = set()
    for path in c_files():
        src = source(path)
        for m in re.finditer(r"\bPutStr\s*\(", src):
            args, _ = _args(src, m.end() - 1)
            if '"' not in args[0]:
                continue
            found |= {(c_string(a), RTN[args[1]]) for a in _alternatives(args[0])}
    return frozenset(found)


def mess(path: str, array: str) -> tuple[str, ...]:
    """A PutMess table (Message.c) up to MESSAGE_END."""
    src = source(path)
    m = re.search(rf"\b{array}\s*\[[^]]*\]\s*=\s*\{{", src)
    assert m, f"{array} not in {path}@{REV}"
    items, _ = _args("(" + src[m.end() : src.index("};", m.end())] + ")", 0)
    lines = []
    for item in items:
        if item == "MESSAGE_END":
            break
        lines.append(c_string(item))
    return tuple(lines)


# --- the pin ---------------------------------------------------------------------------------
def test_pinned_tag_is_the_pinned_commit():
    assert _git("rev-parse", f"{flashwriter.SOURCE_TAG}^{{commit}}").strip() == REV


# --- the stand-in's words --------------------------------------------------------------------
def _standin_put_strs() -> list[tuple[str, int, int]]:
    """(literal, rtn, line) of every put_str call in the stand-in; anything else it prints must go
    through put_mess (tables) or put_hex (Data2HexAscii), checked below."""
    tree = ast.parse(STANDIN.read_text())
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef) or fn.name in ("put_str", "put_mess", "put_hex"):
            continue
        for call in ast.walk(fn):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "put_str"
            ):
                text, rtn = call.args
                assert isinstance(text, ast.Constant) and isinstance(rtn, ast.Constant), (
                    f"{STANDIN.name}:{call.lineno}: put_str of a computed text; use a literal, put_mess "
                    "or put_hex so it can be checked against the sources"
                )
                found.append((text.value, rtn.value, call.lineno))
    return found


def test_every_standin_literal_is_a_putstr_of_the_source():
    lines = _standin_put_strs()
    assert len(lines) > 40  # the walk found the dialogue, not nothing
    missing = [
        f"{STANDIN.name}:{n}: PutStr({text!r}, {rtn})"
        for text, rtn, n in lines
        if (text, rtn) not in put_strs()
    ]
    assert not missing, f"not in flash_writer@{flashwriter.SOURCE_TAG} as written: {missing}"


def test_standin_tables_are_message_c():
    assert (flashwriter.BANNER,) == mess("Message.c", "StartMessMonitor")
    assert flashwriter.HELP == mess("Message.c", "AllHelpMess")


def test_standin_line_primitives_are_common_c():
    common, main = source("common.c"), body("main.c", "DecCom")
    assert re.search(r"#define\s+CR_CODE\s+0x0d", _git("show", f"{REV}:include/common.h"))
    # PutStr: the text, then CR LF when rtn == 1; PutMess: PutStr(line, ENB_RTN) per line.
    assert said('PutStr("a",1); PutStr("b",0);') == "a\r\nb"
    assert re.search(
        r"if\s*\(\s*rtn\s*==\s*1\s*\)\s*\{\s*PutChar\(CR_CODE\);\s*PutChar\(LF_CODE\);",
        body("common.c", "PutStr"),
    )
    assert "PutStr(mess[i],ENB_RTN);" in body("common.c", "PutMess")
    # GetStr: echo, BS SP BS for a backspace, LF ignored, CR ends the line and prints LF CR.
    get_str = body("common.c", "GetStr")
    assert said(get_str) == "\b \b\n\r" and "case LF_CODE: break;" in get_str
    # DecCom: a CR as first key gives LF CR '>'.
    assert said(main).startswith("\n\r>")
    assert "DelStr" in common and said("DelStr(3);") == "\b\b\b   \b\b\b"

    fw = FlashWriter()
    try:
        fw._inbuf = b"ab\x08c\nd\r"
        assert fw.get_str() == "acd"
        assert bytes(fw.transcript) == b"ab\x08 \x08c" + b"d" + b"\n\r"
        fw.transcript.clear()
        fw.put_str("x", 1)
        fw.put_str("y", 0)
        fw.put_mess(("p", "q"))
        fw.del_str(3)
        fw.put_hex(0x4A5C0, 1)
        assert bytes(fw.transcript) == b"x\r\ny" + b"p\r\nq\r\n" + b"\b\b\b   \b\b\b" + b"0004A5C0\r\n"
    finally:
        os.close(fw.master)
        os.close(fw.slave)


# --- what the tool waits for --------------------------------------------------------------------
def _errors() -> list[str]:
    pattern = bootloader.ERRORS.pattern
    assert pattern.startswith("(") and pattern.endswith(")")
    return pattern[1:-1].split("|")


def test_prompts_and_answers_match_the_source():
    xls2 = said(body("dgmodul4.c", "XLoadSpiflash0_2"))
    select = said(body("dgmodul4.c", "SelQspiFlashSetSw"))
    # '>' after a command's CR LF (DecCom's PutStr(">",0)) or after GetStr's LF CR.
    assert bootloader.PROMPT.search(said(body("main.c", "DecCom")))
    assert bootloader.PROMPT.search("\n\r>") and bootloader.PROMPT.search("command not found\r\n>")
    assert xls2.startswith(bootloader.HEADER)
    assert re.search(bootloader.SELECT, select).group(0) == "Select (1-3)>"
    assert re.search(bootloader.ADDRESS, said(body("dgmodul4.c", "SetAddInputKey")))
    assert re.search(bootloader.SEND, said(body("dgmodul4.c", "dgLS_Load_Offset2")))
    assert re.search(bootloader.SUP_DONE, said(body("dgmodul1.c", "dgScifSpeedUp_921600")))
    # The Starter Kit's HyperFlash switch prompts, as shown to the user.
    asks = [m.group(1) for m in bootloader.SWITCH.finditer(said(body("switch.c", "SwChgHyperFlash_SKIT")))]
    assert [" ".join(a.split()) for a in asks] == ["SW1 ON!", "SW6[3] ON!"]
    clear = bootloader.CLEAR.search(said(body("dgmodul4.c", "CkHyperFlashClearSectorSize")))
    assert clear and clear.groups() == (HEX, HEX)
    # " complete!" after "SAVE SPI-FLASH......." in the HyperFlash branch, then Save Information.
    hyper = xls2[xls2.index("SAVE SPI-FLASH.......") :]
    assert bootloader.SAVED.search(hyper)
    assert re.search(
        r"SaveDataWithBuffeHyperFlash\([^;]*\);\s*SetRPC_ClockMode\(RPC_CLK_80M\);\s*"
        r'PutStr\(" complete!",1\);',
        body("dgmodul4.c", "XLoadSpiflash0_2"),
    )
    info = bootloader.INFO.search(xls2[xls2.index("======= Qspi/HyperFlash Save Information") :])
    assert info and info.groups() == (HEX, HEX)


def test_every_recognised_error_is_printed_by_the_source():
    texts = [text + "\r\n" * rtn for text, rtn in put_strs()]
    texts.append(said(body("dgmodul4.c", "CkHyperFlashClearSectorSize")))  # DelStr(34) then " Exit "
    unheard = [alt for alt in _errors() if not any(re.search(alt, t) for t in texts)]
    assert not unheard, f"bootloader.ERRORS waits for what flash_writer@{REV[:8]} never prints: {unheard}"
    # Each has advice, and the named ones come from where the review expects them.
    assert {a.replace("\\", "") for a in _errors()} >= {
        "Program over size Error",
        "ERROR Load file.",
        "Address Input Error",
        "Memory Boundary Error",
    }
    for alt in _errors():
        plain = alt.replace("\\.", ".").replace("\\x08", "\x08")
        assert any(plain.strip("\x08 ").startswith(k.strip("\x08 ")) for k in bootloader.ADVICE), alt
    assert "Program over size Error" in said(body("dgmodul4.c", "XLoadSpiflash0_2"))
    assert "ERROR Load file." in said(body("dgmodul4.c", "dgLS_Load_Offset2"))
    assert "Memory Boundary Error" in said(body("dgmodul4.c", "SetAddInputKey"))
