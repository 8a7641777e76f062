"""Checks src/onnx/op_versions.def (which ONNX version of each op Kiln's importers handle)
against ONNX's operator schema history: no op version newer than the one Kiln handles may be
accepted silently, so every newer version up to the importer's kMaxOpset must be listed as
refused.

The history comes from the installed onnx package (onnx.defs.get_all_schemas_with_history()).
The pinned onnx may be older than kMaxOpset; the versions it does not know come from
data/onnx_op_history.json, a snapshot of the same history taken from a newer onnx, which is
itself checked against the installed onnx wherever both know the opset. Regenerate it with a
newer onnx installed:
    python3 tests/python/test_opset_coverage.py --update-snapshot
"""
import json
import os
import re
import sys
from collections import defaultdict

import onnx
import onnx.defs

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TABLE = os.path.join(REPO_ROOT, "src", "onnx", "op_versions.def")
IMPORTER_H = os.path.join(REPO_ROOT, "src", "onnx", "model_importer.h")
SNAPSHOT = os.path.join(HERE, "data", "onnx_op_history.json")


def installed_history():
    """{op: sorted since_versions} of the default domain, per the installed onnx."""
    h = defaultdict(set)
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain in ("", "ai.onnx"):
            h[s.name].add(s.since_version)
    return {k: sorted(v) for k, v in h.items()}


def load_snapshot():
    with open(SNAPSHOT) as f:
        return json.load(f)


def combined_history():
    """(history, newest opset it covers): the installed onnx's, extended by the snapshot."""
    inst = installed_history()
    inst_max = onnx.defs.onnx_opset_version()
    snap = load_snapshot()
    if snap["max_opset"] <= inst_max:
        return inst, inst_max
    h = {k: list(v) for k, v in inst.items()}
    for op, versions in snap["ops"].items():
        newer = [v for v in versions if v > inst_max]
        if newer:
            h[op] = sorted(set(h.get(op, [])) | set(newer))
    return h, snap["max_opset"]


def parse_table():
    """{op: (newest_handled, {since: why})} from op_versions.def (lines, not comments)."""
    ops, refused = {}, defaultdict(dict)
    op_re = re.compile(r"^KILN_ONNX_OP\((\w+),\s*(\d+)\)")
    ref_re = re.compile(r'^KILN_ONNX_REFUSED\((\w+),\s*(\d+),\s*"(.+)"\)')
    with open(TABLE) as f:
        for line in f:
            if m := op_re.match(line):
                assert m[1] not in ops, f"{m[1]} is listed twice"
                ops[m[1]] = int(m[2])
            elif m := ref_re.match(line):
                refused[m[1]][int(m[2])] = m[3]
            else:
                assert not line.startswith("KILN_ONNX"), f"unparsed table line: {line!r}"
    return {op: (v, dict(refused.get(op, {}))) for op, v in ops.items()}, refused


def max_opset():
    with open(IMPORTER_H) as f:
        m = re.search(r"constexpr int64_t kMaxOpset = (\d+);", f.read())
    assert m, "kMaxOpset not found in model_importer.h"
    return int(m[1])


def test_snapshot_agrees_with_installed_onnx():
    inst = installed_history()
    inst_max = onnx.defs.onnx_opset_version()
    snap = load_snapshot()["ops"]
    for op, versions in inst.items():
        assert op in snap, f"{op} is missing from the snapshot"
        assert [v for v in snap[op] if v <= inst_max] == versions, op
    for op, versions in snap.items():
        if any(v <= inst_max for v in versions):
            assert op in inst, f"snapshot op {op} is unknown to onnx {onnx.__version__}"


def test_history_covers_max_opset():
    _, covered = combined_history()
    assert covered >= max_opset(), (
        f"Kiln accepts opset {max_opset()} but the schema history covers only {covered}: "
        "regenerate data/onnx_op_history.json with a newer onnx")


def test_no_newer_op_version_is_silently_accepted():
    history, _ = combined_history()
    top = max_opset()
    table, refused = parse_table()
    assert len(table) > 100
    for op in refused:
        assert op in table, f"KILN_ONNX_REFUSED({op}, ...) has no KILN_ONNX_OP line"
    problems = []
    for op, (newest, ref) in sorted(table.items()):
        if op not in history:
            problems.append(f"{op}: not an ONNX default-domain op")
            continue
        versions = [v for v in history[op] if v <= top]
        if newest not in versions:
            problems.append(f"{op}: {newest} is not an ONNX version of it (versions {versions})")
            continue
        newer = [v for v in versions if v > newest]
        if sorted(ref) != newer:
            problems.append(f"{op}: handled up to version {newest}; ONNX versions after it up to "
                            f"opset {top} are {newer}, but refused are {sorted(ref)}")
        for v, why in ref.items():
            if len(why) < 10:
                problems.append(f"{op}: refused version {v} needs a reason")
    assert not problems, "\n".join(problems)


def test_table_entries_are_what_kiln_reports():
    # The per-op table as users see it: (op, newest version handled); spot-check ops whose
    # handling after opset 24 this table records (tests/unit/onnx_parser_test.cpp runs them).
    table, _ = parse_table()
    assert table["SpaceToDepth"][0] == 28  # mode=CRD (opset 28) is honoured
    assert table["CastLike"][0] == 25
    assert table["Range"][0] == 27  # stash_type
    assert table["Mod"][0] == 28 and table["BitShift"][0] == 28


def update_snapshot():
    h = installed_history()
    data = {
        "generated_by": f"onnx {onnx.__version__}: tests/python/test_opset_coverage.py --update-snapshot",
        "max_opset": onnx.defs.onnx_opset_version(),
        "ops": {k: h[k] for k in sorted(h)},
    }
    ops = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data["ops"].items())
    with open(SNAPSHOT, "w") as f:
        f.write(f'{{"generated_by": {json.dumps(data["generated_by"])},\n'
                f' "max_opset": {data["max_opset"]},\n "ops": {{\n{ops}\n}}}}\n')
    print(f"wrote {SNAPSHOT}: {len(h)} ops, opset {data['max_opset']}")


if __name__ == "__main__":
    if "--update-snapshot" in sys.argv:
        update_snapshot()
