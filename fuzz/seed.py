#!/usr/bin/env python3
"""Builds fuzz/seeds/<target>/ from the repository's fixtures: the examples, the protocol samples in
shared/protocol (when that folder is beside the repository or named by $SIGNOFF_PROTOCOL), and literals taken
from the unit tests of the code each target reads. Run from anywhere: `python3 fuzz/seed.py`. The folders are
rewritten whole; each seed is named by the hash of its content, so a re-run with the same fixtures changes
nothing."""

import hashlib
import json
import os
import re
import shutil
import sys
import urllib.parse
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
SEEDS = FUZZ / "seeds"
MAX_SEED = 16 * 1024  # bytes; a larger fixture is skipped
MAX_PER_TARGET = 300


def protocol_dir():
    for candidate in [os.environ.get("SIGNOFF_PROTOCOL"), "/work/shared/protocol", ROOT.parent / "shared/protocol"]:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    print("no shared/protocol folder: the Slack and Discord samples are left out", file=sys.stderr)
    return None


PROTOCOL = protocol_dir()


def read(path):
    return Path(path).read_text(encoding="utf-8")


def protocol(name):
    return read(PROTOCOL / name) if PROTOCOL and (PROTOCOL / name).exists() else None


def rust_strings(path, min_len=1):
    """The string literals of a Rust file, plain ("...") and raw (r#"..."#), unescaped for the common escapes."""
    text = read(ROOT / path)
    out = []
    for m in re.finditer(r'r(#+)"(.*?)"\1', text, re.S):
        out.append(m.group(2))
    text = re.sub(r'r(#+)".*?"\1', "", text, flags=re.S)
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'", "0": "\0"}
    for m in re.finditer(r'(?<![\w\'])"((?:[^"\\]|\\.)*)"', text, re.S):
        s = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda u: chr(int(u.group(1), 16)), m.group(1))
        s = re.sub(r"\\\n\s*", "", s)
        s = re.sub(r"\\(.)", lambda e: escapes.get(e.group(1), e.group(0)), s)
        out.append(s)
    return [s for s in out if len(s) >= min_len]


def json_macros(path, must_contain):
    """The `json!({...})` values of a Rust file that are plain JSON (no Rust expressions inside)."""
    text = read(ROOT / path)
    out = []
    for m in re.finditer(r"json!\(", text):
        i, depth = m.end(), 0
        for j in range(i, len(text)):
            if text[j] in "([{":
                depth += 1
            elif text[j] in ")]}":
                if depth == 0:
                    break
                depth -= 1
        candidate = text[i:j]
        if must_contain not in candidate:
            continue
        try:
            out.append(json.dumps(json.loads(re.sub(r",(\s*[}\]])", r"\1", candidate))))
        except ValueError:
            pass
    return out


def markdown_json(text):
    """The ```json blocks of a Markdown text that parse."""
    out = []
    for block in re.findall(r"```json\s*\n(.*?)```", text or "", re.S):
        try:
            json.loads(block)
            out.append(block)
        except ValueError:
            pass
    return out


def write(target, seeds):
    folder = SEEDS / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    kept = {}
    for seed in seeds:
        data = seed.encode("utf-8") if isinstance(seed, str) else seed
        if 0 < len(data) <= MAX_SEED:
            kept.setdefault(hashlib.sha1(data).hexdigest()[:16], data)
    for name, data in sorted(kept.items())[:MAX_PER_TARGET]:
        (folder / name).write_bytes(data)
    print(f"{target}: {min(len(kept), MAX_PER_TARGET)} seeds")


def slack_bodies():
    text = protocol("slack_slash_command.txt") or ""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def main():
    # Slack's published signing example, as the unit tests hold it.
    verify_rs = read(ROOT / "adapters/slack/src/verify.rs")
    const = dict(re.findall(r'const (SECRET|TS|BODY|EXPECTED): &str = "([^"]*)";', verify_rs))
    slack_verify = [f"{const['TS']}\n\n{const['SECRET']}\n{const['TS']}\n{const['EXPECTED']}\n{const['BODY']}"]
    for body in slack_bodies()[:8]:
        slack_verify.append(f"{const['TS']}\ns\n{const['SECRET']}\n{const['TS']}\n-\n{body}")
    slack_verify.append(f"{const['TS']}\n\n{const['SECRET']}\n-\n-\n{const['BODY']}")
    write("slack_verify", slack_verify)

    commands = slack_bodies()
    request_texts = [s for s in rust_strings("adapters/slack/src/inbound.rs") if s.startswith(("db", "/request")) or "for " in s]
    commands += ["command=%2Frequest&user_id=U1&team_id=T1&text=" + urllib.parse.quote_plus(t) for t in request_texts]
    commands += request_texts + ["ssl_check=1&token=x"]
    write("slack_command", commands)

    payloads = [p for p in (protocol("slack_block_actions.json"), protocol("slack_view_submission.json")) if p]
    payloads += json_macros("adapters/slack/src/inbound.rs", '"type"')
    write("slack_interaction", payloads + ["payload=" + urllib.parse.quote_plus(p) for p in payloads])

    discord = [p for p in [protocol("discord_component_interaction.json")] if p]
    discord += markdown_json(protocol("discord_interactions.md"))
    discord += [s for s in rust_strings("adapters/discord/src/inbound.rs") if s.lstrip().startswith("{")]
    write("discord_interaction", discord)

    ts = "1700000000"
    discord_verify = [f"{ts}\ns\n-\n{ts}\n-\n{body}" for body in discord[:6]]
    discord_verify.append(f"{ts}\nsu\n-\n{ts}\n-\n" + '{"type":1,"id":"1","application_id":"2","token":"t","version":1}')
    # RFC 8032's first test key, which Discord's docs sample: a key that is not ours.
    rfc_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    discord_verify.append(f"{ts}\n\n{rfc_key}\n{ts}\n{'0' * 128}\n" + '{"type":1}')
    write("discord_verify", discord_verify)

    policies = [b"y" + read(ROOT / "src/policy/builtin.yaml").encode()]
    for f in sorted((ROOT / "examples/policies").iterdir()):
        policies.append((b"j" if f.suffix == ".json" else b"y") + f.read_bytes())
    write("policy_load", policies)

    directory = []
    for f in sorted((ROOT / "examples/directory").iterdir()):
        directory.append((b"j" if f.suffix == ".json" else b"y") + f.read_bytes())
    directory.append(b"p" + (ROOT / "examples/directory/data.json").read_bytes())
    write("directory_load", directory)

    rules = []
    for text in [read(ROOT / "examples/policies/workflows.yaml"), read(ROOT / "src/policy/builtin.yaml")]:
        rules += [m.strip().strip("'\"") for m in re.findall(r"rule_v2:\s*(.+)", text)]
    rules += [s for s in rust_strings("src/policy/rule/tests.rs", 3) if any(op in s for op in ("==", " IN ", "$", "AND", "OR", "NOT", "."))]
    write("rule_v2", rules)

    filters = [s for s in rust_strings("src/scim/filter.rs", 3) if re.search(r"\b(eq|ne|co|sw|ew|pr|gt|ge|lt|le)\b|\[", s)]
    scim_rs = read(ROOT / "tests/scim.rs")
    filters += [urllib.parse.unquote(m) for m in re.findall(r"filter=([^&\"]+)", scim_rs)]
    filters += [s for s in rust_strings("src/scim/patch.rs", 3) if "[" in s or "." in s]
    write("scim_filter", filters)

    patches = json_macros("src/scim/patch.rs", '"op"') + json_macros("tests/scim.rs", '"Operations"')
    ops = json_macros("src/scim/patch.rs", '"op"')
    schema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    for op in ops:
        value = json.loads(op)
        listed = [value] if isinstance(value, dict) else value
        if isinstance(listed, list) and all(isinstance(v, dict) and "op" in v for v in listed):
            patches.append(json.dumps({"schemas": [schema], "Operations": listed}))
    write("scim_patch", patches)


if __name__ == "__main__":
    main()
