#!/usr/bin/env python3
"""Extract OpenAPI extension facts from upstream Go API types (release-1.33).

Reads struct tags (patchStrategy/patchMergeKey) and comment markers (+listType, +listMapKey,
+mapType, +structType, +enum with its constants) and prints one TSV line per fact:
    <definition name> TAB <json property or "."> TAB <JSON object of schema keywords>

Usage: K8S_MIRROR=DIR python3 gen_upstream_ext.py > body.tsv (then keep the header comment of
upstream_ext.tsv). DIR holds git clones (with a release-1.33 branch) named
kubernetes+api/repo, kubernetes+apimachinery/repo, kubernetes+apiextensions-apiserver/repo and
kubernetes+kube-aggregator/repo.
"""
import json, os, re, subprocess

MIRROR = os.environ.get("K8S_MIRROR", "/work/.mirror")
BRANCH = "release-1.33"

def git_show(repo, path):
    return subprocess.run(["git", "-C", f"{MIRROR}/{repo}/repo", "show", f"{BRANCH}:{path}"],
                          capture_output=True, text=True, check=True).stdout

def git_ls(repo, under):
    args = ["git", "-C", f"{MIRROR}/{repo}/repo", "ls-tree", "-r", "--name-only", BRANCH] + ([under] if under else [])
    out = subprocess.run(args,
                         capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\n") if p]

# (repo, directory, definition prefix)
PKGS = []
for p in git_ls("kubernetes+api", ""):
    m = re.match(r"^([a-z0-9]+)/(v[0-9]+)/types\.go$", p)
    if m:
        PKGS.append(("kubernetes+api", f"{m.group(1)}/{m.group(2)}", f"io.k8s.api.{m.group(1)}.{m.group(2)}"))
PKGS.append(("kubernetes+apimachinery", "pkg/apis/meta/v1", "io.k8s.apimachinery.pkg.apis.meta.v1"))
PKGS.append(("kubernetes+apiextensions-apiserver", "pkg/apis/apiextensions/v1",
             "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1"))
PKGS.append(("kubernetes+kube-aggregator", "pkg/apis/apiregistration/v1",
             "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1"))

def markers(comment_lines):
    out = []
    for c in comment_lines:
        m = re.match(r"^\s*//\s*\+(?:k8s:)?([A-Za-z]+)(?:=(.*))?$", c)
        if m:
            out.append((m.group(1), (m.group(2) or "").strip()))
    return out

def parse_pkg(src):
    """Returns (structs, enums, consts): structs[name] = {"markers": [...], "fields": [...]},
    field = {"json": name|None(inline), "type": gotype, "tags": {...}, "markers": [...]}"""
    lines = src.split("\n")
    structs, enum_types, consts = {}, set(), {}
    comments = []
    i = 0
    in_const = False
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if s.startswith("//"):
            comments.append(s); i += 1; continue
        m = re.match(r"^type\s+(\w+)\s+struct\s*\{", s)
        if m and s.endswith("}"):
            structs[m.group(1)] = {"markers": markers(comments), "fields": []}
            comments = []; i += 1; continue
        if m:
            name = m.group(1)
            st = {"markers": markers(comments), "fields": []}
            comments = []
            i += 1
            depth = 1
            fcomments = []
            while i < len(lines) and depth > 0:
                fl = lines[i].strip()
                if fl.startswith("//"):
                    fcomments.append(fl); i += 1; continue
                if fl == "}" and depth == 1:
                    depth = 0; i += 1; break
                if fl.endswith("{"):
                    depth += 1
                if fl.startswith("}"):
                    depth -= 1
                fm = re.match(r"^(\w+)?\s*([\*\[\]\w\.]+)?\s*`([^`]*)`", fl)
                if fm and depth == 1:
                    tags = dict(re.findall(r'(\w+):"([^"]*)"', fm.group(3)))
                    js = tags.get("json", "")
                    jname = js.split(",")[0]
                    if jname == "-":
                        pass
                    elif jname == "" and "inline" in js.split(","):
                        # embedded: `Type` or `pkg.Type`
                        typ = fm.group(2) or fm.group(1)
                        st["fields"].append({"json": None, "type": typ, "tags": tags, "markers": markers(fcomments)})
                    else:
                        st["fields"].append({"json": jname, "type": fm.group(2) or "", "tags": tags,
                                             "markers": markers(fcomments)})
                fcomments = []
                i += 1
            structs[name] = st
            continue
        m = re.match(r"^type\s+(\w+)\s+(\w+)\s*$", s)
        if m:
            if any(k == "enum" for k, _ in markers(comments)):
                enum_types.add(m.group(1))
            comments = []; i += 1; continue
        if s.startswith("const ("):
            in_const = True; comments = []; i += 1; continue
        if in_const and s == ")":
            in_const = False; i += 1; continue
        m = re.match(r'^(?:const\s+)?(\w+)\s+(\w+)\s*=\s*"([^"]*)"', s)
        if m and (in_const or s.startswith("const ")):
            consts.setdefault(m.group(2), []).append(m.group(3))
        comments = []
        i += 1
    return structs, enum_types, consts

def main():
    out = []
    for repo, d, prefix in PKGS:
        files = [p for p in git_ls(repo, d + "/") if re.match(r".*/[a-z_]+\.go$", p)
                 and "/" not in p[len(d) + 1:] and not p.endswith("_test.go") and "generated" not in p]
        structs, enum_types, consts = {}, set(), {}
        for f in files:
            s, e, c = parse_pkg(git_show(repo, f))
            structs.update(s); enum_types |= e
            for k, v in c.items():
                consts.setdefault(k, []).extend(v)

        def fields_of(name, seen=()):
            st = structs.get(name)
            if st is None or name in seen:
                return []
            out_f = []
            for f in st["fields"]:
                if f["json"] is None:
                    if "." not in f["type"]:
                        out_f.extend(fields_of(f["type"].lstrip("*"), seen + (name,)))
                else:
                    out_f.append(f)
            return out_f

        for name in sorted(structs):
            st = structs[name]
            dname = f"{prefix}.{name}"
            dext = {}
            for k, v in st["markers"]:
                if k == "structType" and v:
                    dext["x-kubernetes-map-type"] = v
            if dext:
                out.append((dname, ".", dext))
            for f in fields_of(name):
                ext = {}
                tags, mk = f["tags"], f["markers"]
                strat = tags.get("patchStrategy") or next((v for k, v in mk if k == "patchStrategy"), None)
                key = tags.get("patchMergeKey") or next((v for k, v in mk if k == "patchMergeKey"), None)
                if key:
                    ext["x-kubernetes-patch-merge-key"] = key
                if strat:
                    ext["x-kubernetes-patch-strategy"] = strat
                lt = next((v for k, v in mk if k == "listType"), None)
                if lt:
                    ext["x-kubernetes-list-type"] = lt
                lmk = [v for k, v in mk if k == "listMapKey"]
                if lmk:
                    ext["x-kubernetes-list-map-keys"] = lmk
                mt = next((v for k, v in mk if k == "mapType"), None)
                if mt:
                    ext["x-kubernetes-map-type"] = mt
                base = f["type"].lstrip("*[]")
                if base in enum_types and base in consts:
                    ext["enum"] = sorted(set(consts[base]))
                if ext:
                    out.append((dname, f["json"], ext))
    for d, p, e in out:
        print(f"{d}\t{p}\t{json.dumps(e, sort_keys=True, separators=(',', ':'))}")

main()
