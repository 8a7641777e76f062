"""`kiln inspect --dot/--html` (graph pictures), `--profilingVerbosity` (what a plan keeps about
its layers), `kiln run --nvtx` on the CPU, and --layerPrecisions files without entries.

The DOT output is checked with a small tokenizer written here (no Graphviz on the test
machines): node and edge statements, quoted strings with their escapes undone, and HTML-like
labels parsed as XML. The HTML page is parsed as XML (it is written well-formed on purpose), so
escaping mistakes fail the parse or show up in the recovered text.
"""
import json
import os
import re
import struct
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import kiln_testutil as ku

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
FAST = ["--iterations=1", "--duration=0", "--warmUp=0"]


def run(cli, args, timeout=120):
    return subprocess.run([cli] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout)


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def save(model, path):
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """y = relu(x @ W + b) (fused into one FusedMatMul layer on the CPU), z = x * 2."""
    rng = np.random.default_rng(7)
    w = rng.uniform(-1, 1, (4, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, (3,)).astype(np.float32)
    return ku.save_tiny_cli_model(tmp_path_factory.mktemp("inspect_graph") / "tiny.onnx", w, b)


def build(cli, model, tmp_path, name, *extra):
    plan = str(tmp_path / name)
    ok(run(cli, ["build", f"--onnx={model}", "--shapes=x:2x4", f"--saveEngine={plan}", *extra]))
    return plan


# ---- a minimal DOT reader -------------------------------------------------------------------

def dot_tokens(text):
    """Tokens of a DOT document: ('id', s), ('str', unescaped s), ('html', s), ('op', s)."""
    i, out = 0, []
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("//", i):
            i = text.index("\n", i)
        elif c == '"':
            i += 1
            s = []
            while text[i] != '"':
                if text[i] == "\\":
                    nxt = text[i + 1]
                    s.append({"n": "\n", '"': '"', "\\": "\\"}.get(nxt, "\\" + nxt))
                    i += 2
                else:
                    s.append(text[i])
                    i += 1
            out.append(("str", "".join(s)))
            i += 1
        elif c == "<":
            depth, j = 0, i
            while True:
                if text[j] == "<":
                    depth += 1
                elif text[j] == ">":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            out.append(("html", text[i + 1:j]))
            i = j + 1
        elif text.startswith("->", i):
            out.append(("op", "->"))
            i += 2
        elif c in "{}[]=,;":
            out.append(("op", c))
            i += 1
        else:
            m = re.match(r"[A-Za-z0-9_.#]+", text[i:])
            assert m, f"unexpected DOT text at {i}: {text[i:i + 40]!r}"
            out.append(("id", m.group(0)))
            i += len(m.group(0))
    return out


def parse_dot(text):
    """{'nodes': {id: attrs}, 'edges': [(a, b, attrs)]} of the statements with attribute lists
    (the graph/node/edge defaults and subgraph headers are skipped)."""
    toks = dot_tokens(text)
    assert toks[:2] == [("id", "digraph"), ("id", "kiln")] and toks[2] == ("op", "{")
    nodes, edges = {}, []
    i = 3

    def attrs(i):
        assert toks[i] == ("op", "["), toks[i]
        a, i = {}, i + 1
        while toks[i] != ("op", "]"):
            key = toks[i][1]
            assert toks[i + 1] == ("op", "=")
            a[key] = toks[i + 2][1]
            i += 3
            if toks[i] == ("op", ","):
                i += 1
        return a, i + 1

    depth = 1
    while depth:
        t = toks[i]
        if t == ("op", "}"):
            depth -= 1
            i += 1
        elif t == ("op", "{"):
            depth += 1
            i += 1
        elif t[0] == "id" and t[1] in ("graph", "node", "edge"):
            _, i = attrs(i + 1)
        elif t[0] == "id" and t[1] == "subgraph":
            i += 2
        elif t[0] == "id" and toks[i + 1] == ("op", "->"):
            a, i2 = attrs(i + 3)
            edges.append((t[1], toks[i + 2][1], a))
            i = i2
        elif t[0] == "id" and toks[i + 1] == ("op", "["):
            a, i = attrs(i + 1)
            nodes[t[1]] = a
        elif t[0] == "id" and toks[i + 1] == ("op", "="):
            i += 3  # label="precision" etc. inside the legend cluster
        else:
            assert t == ("op", ";"), f"unexpected token {t}"
            i += 1
    return {"nodes": nodes, "edges": edges}


def html_label_rows(label):
    """Texts of the rows of an HTML-like label (parsed as XML)."""
    table = ET.fromstring(label)
    assert table.tag == "TABLE"
    return ["".join(td.itertext()) for td in table.iter("TD")]


def layer_nodes(g):
    return {k: v for k, v in g["nodes"].items() if re.fullmatch(r"L\d+", k)}


def layer_info(cli, plan):
    return json.loads(ok(run(cli, ["inspect", plan, "--json"])).stdout)


# ---- DOT ------------------------------------------------------------------------------------

def test_dot_of_plan_has_layers_edges_and_fused_nodes(kiln_cli, tiny_model, tmp_path):
    plan = build(kiln_cli, tiny_model, tmp_path, "tiny.plan")
    dot = tmp_path / "tiny.dot"
    p = ok(run(kiln_cli, ["inspect", plan, f"--dot={dot}"]))
    assert "Layers (2" in p.stdout  # the usual text still printed
    g = parse_dot(dot.read_text())
    layers = layer_nodes(g)
    # Two layers: the MatMul+Add+Relu fusion and the Mul; plus one input and two outputs.
    assert len(layers) == 2
    assert sorted(k for k in g["nodes"] if k.startswith(("in", "out"))) == ["in0", "out0", "out1"]
    rows = {k: html_label_rows(v["label"]) for k, v in layers.items()}
    fused = [r for r in rows.values() if "fused (3):" in r]
    assert len(fused) == 1, rows
    assert fused[0][fused[0].index("fused (3):") + 1:] == ["matmul", "add", "relu"]
    assert "FusedMatMul | float32" in fused[0]
    # Edges: x feeds both layers, each layer feeds its output; no edge from the weights.
    names = {k: r[0] for k, r in rows.items()}
    by_name = {v: k for k, v in names.items()}
    edges = {(a, b): e["label"] for a, b, e in g["edges"]}
    fm, mul = by_name["matmul/FusedMatMul"], by_name["double"]
    assert edges == {("in0", fm): "[batch,4] float32", ("in0", mul): "[batch,4] float32",
                     (fm, "out0"): "[batch,3] float32", (mul, "out1"): "[batch,4] float32"}
    assert g["nodes"]["out0"]["label"] == "output: y\n[batch,3] float32"
    # Legend: one entry per precision used.
    assert [v["label"] for k, v in g["nodes"].items() if k.startswith("legend_")] == ["float32"]


def test_dot_of_onnx_optimized_and_raw(kiln_cli, tiny_model):
    opt = parse_dot(ok(run(kiln_cli, ["inspect", tiny_model, "--dot=-"])).stdout)
    assert len(layer_nodes(opt)) == 2
    raw = parse_dot(ok(run(kiln_cli, ["inspect", tiny_model, "--raw", "--dot=-"])).stdout)
    layers = layer_nodes(raw)
    assert sorted(html_label_rows(v["label"])[0] for v in layers.values()) == \
        ["add", "double", "matmul", "relu"]
    # x -> matmul -> add -> relu -> y and x -> double -> z: six edges, initializers not drawn.
    assert len(raw["edges"]) == 6
    first = {k: html_label_rows(v["label"])[0] for k, v in layers.items()}
    chain = {(first.get(a, a), first.get(b, b)) for a, b, _ in raw["edges"]}
    assert chain == {("in0", "matmul"), ("matmul", "add"), ("add", "relu"), ("relu", "out0"),
                     ("in0", "double"), ("double", "out1")}


WEIRD_NODE = 'we"ird <node> & \'co\' \\ end'
WEIRD_TENSOR = 'in"<&>\'\\put'


@pytest.fixture(scope="module")
def weird_model(tmp_path_factory):
    """A model whose node and tensor names hold DOT and XML special characters."""
    x = helper.make_tensor_value_info(WEIRD_TENSOR, TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info('out"&<y>', TensorProto.FLOAT, [2, 3])
    nodes = [helper.make_node("Sigmoid", [WEIRD_TENSOR], ["mid"], name=WEIRD_NODE),
             helper.make_node("Abs", ["mid"], ['out"&<y>'], name="plain")]
    graph = helper.make_graph(nodes, "weird", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return save(model, tmp_path_factory.mktemp("weird") / "weird.onnx")


def test_dot_escapes_names(kiln_cli, weird_model):
    for extra in ([], ["--raw"]):
        g = parse_dot(ok(run(kiln_cli, ["inspect", weird_model, "--dot=-", *extra])).stdout)
        names = sorted(html_label_rows(v["label"])[0] for v in layer_nodes(g).values())
        assert names == sorted([WEIRD_NODE, "plain"]), names
        assert g["nodes"]["in0"]["label"] == f"input: {WEIRD_TENSOR}\n[2,3] float32"
        assert g["nodes"]["out0"]["label"] == 'output: out"&<y>\n[2,3] float32'
        tips = [v["tooltip"] for v in layer_nodes(g).values()]
        assert any(t.startswith(WEIRD_NODE + "\n") for t in tips), tips


# ---- HTML -----------------------------------------------------------------------------------

def parse_html(path_or_text):
    text = path_or_text if "<html" in path_or_text else open(path_or_text).read()
    assert "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")  # self-contained: no scripts, no fetches
    root = ET.fromstring(text)  # well-formed XML, or this raises
    svgs = list(root.iter(SVG + "svg"))
    return root, svgs


def test_html_is_one_svg_with_a_box_per_layer(kiln_cli, tiny_model, tmp_path):
    plan = build(kiln_cli, tiny_model, tmp_path, "tiny.plan")
    page = tmp_path / "tiny.html"
    ok(run(kiln_cli, ["inspect", plan, f"--html={page}"]))
    root, svgs = parse_html(str(page))
    assert len(svgs) == 1
    layers = [g for g in svgs[0].iter(SVG + "g") if g.get("class") == "layer"]
    io = [g for g in svgs[0].iter(SVG + "g") if g.get("class") == "io"]
    assert len(layers) == layer_info(kiln_cli, plan)["numLayers"] == 2
    assert len(io) == 3
    edges = [p for p in svgs[0].iter(SVG + "path") if p.get("class") == "edge"]
    assert len(edges) == 4
    texts = [" ".join(t.text for t in g.iter(SVG + "text")) for g in layers]
    fused = [t for t in texts if "fused (3):" in t]
    assert len(fused) == 1 and all(n in fused[0] for n in ("matmul", "add", "relu"))
    # Each box has a rect filled with its precision's colour, the legend shows that colour.
    legend = [g for g in svgs[0].iter(SVG + "g") if g.get("class") == "legend"][0]
    colours = {r.get("fill") for r in legend.iter(SVG + "rect")}
    assert {g.find(SVG + "rect").get("fill") for g in layers} <= colours


def test_html_escapes_names(kiln_cli, weird_model):
    root, svgs = parse_html(ok(run(kiln_cli, ["inspect", weird_model, "--html=-"])).stdout)
    titles = [g.find(SVG + "title").text for g in svgs[0].iter(SVG + "g")
              if g.get("class") == "layer"]
    assert any(t.split("\n")[0] == WEIRD_NODE for t in titles), titles
    assert any(t.startswith(f"input: {WEIRD_TENSOR}\n") for t in
               (g.find(SVG + "title").text for g in svgs[0].iter(SVG + "g")
                if g.get("class") == "io"))


# ---- --profilingVerbosity -------------------------------------------------------------------

def test_profiling_verbosity_none_keeps_no_layer_detail(kiln_cli, tiny_model, tmp_path):
    detailed = build(kiln_cli, tiny_model, tmp_path, "detailed.plan")
    none = build(kiln_cli, tiny_model, tmp_path, "none.plan", "--profilingVerbosity=none")
    # The fused-node list is in the detailed plan's bytes only.
    assert b"matmul + add + relu" in open(detailed, "rb").read()
    assert b"matmul + add + relu" not in open(none, "rb").read()
    info = layer_info(kiln_cli, none)
    assert info["profilingVerbosity"] == "none"
    assert info["layerInformation"] == {"profilingVerbosity": "none", "layers": None}
    text = ok(run(kiln_cli, ["inspect", none])).stdout
    assert "no layer information" in text and "profilingVerbosity=none" in text
    assert "FusedMatMul" not in text
    exported = tmp_path / "layers.json"
    p = ok(run(kiln_cli, ["run", f"--loadEngine={none}", f"--exportLayerInfo={exported}",
                          "--dumpLayerInfo", *FAST]))  # the plan still runs
    assert json.loads(exported.read_text())["layers"] is None
    assert "no layer information" in p.stdout
    p = run(kiln_cli, ["inspect", none, f"--dot={tmp_path / 'none.dot'}"])
    assert p.returncode == 1 and "profilingVerbosity=none" in p.stderr, p.stderr
    assert not (tmp_path / "none.dot").exists()


def test_profiling_verbosity_layer_names_only(kiln_cli, tiny_model, tmp_path):
    plan = build(kiln_cli, tiny_model, tmp_path, "names.plan",
                 "--profiling-verbosity=layer_names_only")
    info = layer_info(kiln_cli, plan)
    assert info["profilingVerbosity"] == "layer_names_only"
    assert sorted(info["layerInformation"]["layers"]) == ["double", "matmul/FusedMatMul"]
    text = ok(run(kiln_cli, ["inspect", plan])).stdout
    assert "FusedMatMul |" not in text and "[batch" not in text.split("Layers (")[1]
    g = parse_dot(ok(run(kiln_cli, ["inspect", plan, "--dot=-"])).stdout)
    assert len(layer_nodes(g)) == 2 and g["edges"] == []  # names only: no topology


def test_profiling_verbosity_default_detailed_and_aliases(kiln_cli, tiny_model, tmp_path):
    for extra, expected in (([], "detailed"), (["--profilingVerbosity=verbose"], "detailed"),
                            (["--profilingVerbosity=DETAILED"], "detailed"),
                            (["--profilingVerbosity=default"], "layer_names_only")):
        info = layer_info(kiln_cli, build(kiln_cli, tiny_model, tmp_path, "p.plan", *extra))
        assert info["profilingVerbosity"] == expected, extra
    info = layer_info(kiln_cli, build(kiln_cli, tiny_model, tmp_path, "p.plan"))
    fused = [l for l in info["layerInformation"]["layers"] if l["fusedNodes"]]
    assert [l["fusedNodes"] for l in fused] == ["matmul + add + relu"]


@pytest.mark.parametrize("args, needle", [
    (["build", "--profilingVerbosity=loud"], "expected layer_names_only, detailed or none"),
    (["build", "--profilingVerbosity="], "empty value"),
    (["inspect", "--dot=-", "--html=-"], "only one of them can go to stdout"),
])
def test_bad_values_are_usage_errors(kiln_cli, tiny_model, args, needle):
    p = run(kiln_cli, args + [f"--onnx={tiny_model}"])
    assert p.returncode == 2 and needle in p.stderr, (p.returncode, p.stderr)


def test_raw_on_a_plan_is_usage_error(kiln_cli, tiny_model, tmp_path):
    plan = build(kiln_cli, tiny_model, tmp_path, "tiny.plan")
    p = run(kiln_cli, ["inspect", plan, "--raw", "--dot=-"])
    assert p.returncode == 2 and "--raw applies to ONNX models" in p.stderr


def test_nvtx_on_cpu_warns_and_runs(kiln_cli, tiny_model):
    p = ok(run(kiln_cli, ["run", f"--onnx={tiny_model}", "--nvtx", *FAST]))
    assert "--nvtx: the CPU backend emits no NVTX ranges" in p.stderr


# ---- plans written before the profiling verbosity existed -----------------------------------

def crc32c(data):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def rewrite_metadata(plan_bytes, new_tail):
    """The plan with the 4 bytes after the network name (docs/plan_format.md, metadata section)
    replaced by `new_tail` (b"" drops them, as plans written before the field), checksum fixed."""
    b = bytearray(plan_bytes)
    assert b[:8] == b"KILNPLAN"
    pos = 32

    def string(pos):
        n = struct.unpack_from("<I", b, pos)[0]
        return pos + 4 + n

    pos = string(pos)       # library version
    pos += 4                # device type
    pos = string(pos)       # device name
    pos += 8                # SM major, minor
    pos = string(pos)       # libraries
    count = struct.unpack_from("<I", b, pos)[0]
    pos += 4
    for k in range(count):
        typ, _, off, size = struct.unpack_from("<IIQQ", b, pos + 24 * k)
        if typ == 1:
            entry = pos + 24 * k
            break
    name_end = string(off)
    assert size == name_end - off + 4
    assert len(new_tail) <= 4
    b[name_end:name_end + 4] = new_tail + bytes(4 - len(new_tail))  # padding stays zero
    struct.pack_into("<Q", b, entry + 16, name_end - off + len(new_tail))
    struct.pack_into("<I", b, 24, crc32c(bytes(b[28:])))
    return bytes(b)


def test_plans_without_verbosity_load_as_detailed(kiln_cli, tiny_model, tmp_path):
    plan = build(kiln_cli, tiny_model, tmp_path, "names.plan",
                 "--profilingVerbosity=layer_names_only")
    data = open(plan, "rb").read()
    # Sanity of the rewriting: the same bytes back when the tail is the original value (0).
    assert rewrite_metadata(data, struct.pack("<I", 0)) == data
    old = tmp_path / "old.plan"
    old.write_bytes(rewrite_metadata(data, b""))
    info = layer_info(kiln_cli, str(old))
    assert info["profilingVerbosity"] == "detailed"
    assert len(info["layerInformation"]["layers"]) == 2
    bad = tmp_path / "bad.plan"
    bad.write_bytes(rewrite_metadata(data, struct.pack("<I", 7)))
    p = run(kiln_cli, ["inspect", str(bad)])
    assert p.returncode == 1 and "unknown profiling verbosity 7" in p.stderr, p.stderr


# ---- --layerPrecisions files without entries ------------------------------------------------

def test_layer_precisions_file_with_only_comments_pins_nothing(kiln_cli, tiny_model, tmp_path):
    empty = tmp_path / "prec.txt"
    empty.write_text("# kiln debug precision: no layer needs float32\n\n   \n# end\n")
    ok(run(kiln_cli, ["build", f"--onnx={tiny_model}", "--fp16", f"--layerPrecisions=@{empty}"]))
    # An empty spec on the command line is still a mistake.
    p = run(kiln_cli, ["build", f"--onnx={tiny_model}", "--layerPrecisions=,"])
    assert p.returncode == 2 and "no <layer>:<precision> entry" in p.stderr, p.stderr
