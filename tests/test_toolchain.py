"""The Go toolchain builder (platform/toolchain/gobuild.py): spec loading, the generated wrapper
go.mod, and the cache (our own tiny pause program built twice; the second run is "cached").

No network here. Set BERTH_TOOLCHAIN_SLOW=1 to also build a real program from the module proxy.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from toolchain import gobuild

ROOT = Path(__file__).resolve().parent.parent

K8S_GOMOD = """module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
	github.com/spf13/cobra v1.10.0
	k8s.io/api v0.0.0
	k8s.io/client-go v0.0.0 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	example.com/fork v1.0.0 => example.com/fork v1.0.1 // a pinned fix
)
"""

VENDOR_MOD = """// vendor.mod: not a go.mod, because this is not a module yet
module github.com/docker/cli

go 1.24.0

require (
	github.com/docker/docker v28.5.2+incompatible // master (v29.0-dev)
	github.com/spf13/cobra v1.10.1
)

require golang.org/x/sys v0.36.0 // indirect

replace github.com/docker/docker => github.com/docker/docker v28.5.2-0.20250101000000-abcdef012345+incompatible
"""


def write_spec(tmp_path, text):
    spec = tmp_path / "toolchain.yaml"
    spec.write_text(text)
    return spec


def test_the_shipped_spec_loads_and_pins_exact_versions():
    programs = gobuild.load_spec()
    names = [p.name for p in programs]
    assert len(names) == len(set(names))
    assert {"kubernetes-1.36", "kubernetes-1.37", "pause"} <= set(names)
    for p in programs:
        assert p.path or p.version.startswith("v"), p.name
        assert p.packages
    k8s = next(p for p in programs if p.name == "kubernetes-1.36")
    assert not k8s.cgo
    assert [pkg.output for pkg in k8s.packages][:2] == ["kube-apiserver", "kube-controller-manager"]
    assert "kubectl" in [pkg.output for pkg in k8s.packages]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("programs: {}", "programs: a list"),
        ("programs:\n- {name: x, module: a.b/c, packages: [a.b/c]}", "x.version"),
        ("programs:\n- {name: x, module: a.b/c, version: latest, packages: [a.b/c]}", "x.version"),
        ("programs:\n- {name: x, module: a.b/c, version: v1.0.0}", "x.packages"),
        ("programs:\n- {name: x, module: a.b/c, version: v1.0.0, packages: [d.e/f]}", "not inside module a.b/c"),
        ("programs:\n- {name: x, module: a.b/c, version: v1.0.0, packages: [a.b/c], colour: red}", "colour"),
        ("programs:\n- {name: x, path: p, packages: [.]}\n- {name: x, path: p, packages: [.]}", "duplicate"),
        ("programs:\n- {name: X!, path: p, packages: [.]}", "name: required"),
    ],
)
def test_bad_specs_name_the_field(tmp_path, body, message):
    with pytest.raises(gobuild.SpecError, match=message.replace(".", r"\.")):
        gobuild.load_spec(write_spec(tmp_path, body))


def test_outputs_and_renames(tmp_path):
    spec = write_spec(
        tmp_path,
        """programs:
- name: compose
  module: github.com/docker/compose/v5
  version: v5.6.0
  packages: [{package: github.com/docker/compose/v5/cmd, output: docker-compose}]
""",
    )
    (p,) = gobuild.load_spec(spec)
    assert p.packages[0].output == "docker-compose"
    assert p.label == "compose-v5.6.0"


def test_wrapper_gomod_turns_staging_paths_into_published_modules():
    program = gobuild.Program(
        name="kubernetes-1.36",
        module="k8s.io/kubernetes",
        version="v1.36.3",
        packages=(gobuild.Package("k8s.io/kubernetes/cmd/kubectl", "kubectl"),),
        inherit_replaces=True,
        local_replace_version="v0.{minor}.{patch}",
        replace=("example.com/extra => example.com/extra v{bare_version}",),
    )
    text = gobuild.wrapper_gomod(program, K8S_GOMOD)
    mod = gobuild.parse_gomod(text)
    assert mod.module == "berth.local/toolchain/kubernetes-1.36"
    assert mod.go == "1.26.0"
    assert mod.godebug == ["default=go1.26"]
    assert mod.require == [("k8s.io/kubernetes", "v1.36.3")]
    assert ("k8s.io/api", "k8s.io/api v0.36.3") in mod.replace
    assert ("k8s.io/client-go", "k8s.io/client-go v0.36.3") in mod.replace
    assert ("example.com/fork v1.0.0", "example.com/fork v1.0.1") in mod.replace
    assert ("example.com/extra", "example.com/extra v1.36.3") in mod.replace


def test_wrapper_gomod_needs_a_version_for_local_replaces():
    program = gobuild.Program(
        name="k",
        module="k8s.io/kubernetes",
        version="v1.36.3",
        packages=(gobuild.Package("k8s.io/kubernetes/cmd/kubectl", "kubectl"),),
        inherit_replaces=True,
    )
    with pytest.raises(gobuild.SpecError, match="local_replace_version"):
        gobuild.wrapper_gomod(program, K8S_GOMOD)


def test_wrapper_gomod_from_vendor_mod_for_incompatible_modules():
    program = gobuild.Program(
        name="docker-cli",
        module="github.com/docker/cli",
        version="v29.10.0+incompatible",
        packages=(gobuild.Package("github.com/docker/cli/cmd/docker", "docker"),),
        requires_from="vendor.mod",
    )
    mod = gobuild.parse_gomod(gobuild.wrapper_gomod(program, None, VENDOR_MOD))
    assert mod.go == "1.24.0"
    assert mod.require[0] == ("github.com/docker/cli", "v29.10.0+incompatible")
    assert ("github.com/spf13/cobra", "v1.10.1") in mod.require
    assert ("golang.org/x/sys", "v0.36.0") in mod.require
    assert mod.replace == [
        ("github.com/docker/docker", "github.com/docker/docker v28.5.2-0.20250101000000-abcdef012345+incompatible")
    ]
    assert gobuild.template_vars(program)["version"] == "v29.10.0"


def test_parse_gomod_single_lines_blocks_and_comments():
    mod = gobuild.parse_gomod(
        'module "x.y/z" // the module\n\ngo 1.25.0\ntoolchain go1.26.1\nrequire a.b/c v1.2.3\n'
        "exclude a.b/c v1.0.0\nrequire (\n\t// nothing\n\td.e/f v0.1.0 // indirect\n)\n"
    )
    assert (mod.module, mod.go) == ("x.y/z", "1.25.0")
    assert mod.require == [("a.b/c", "v1.2.3"), ("d.e/f", "v0.1.0")]
    assert mod.exclude == ["a.b/c v1.0.0"]


def test_data_dir_follows_berth_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("BERTH_BUILD_CACHE", raising=False)
    monkeypatch.setenv("BERTH_DATA_DIR", str(tmp_path))
    program = gobuild.Program(name="p", module="a.b/c", version="v1.0.0", packages=(gobuild.Package("a.b/c", "c"),))
    assert gobuild.output_dir(program) == tmp_path / "toolchain" / "p-v1.0.0"
    env = gobuild.go_env()
    assert env["GOMODCACHE"].startswith(str(tmp_path / "go"))
    assert env["GOCACHE"].startswith(str(tmp_path / "go"))


def test_a_machine_wide_build_cache_comes_first(monkeypatch, tmp_path):
    monkeypatch.setenv("BERTH_DATA_DIR", str(tmp_path / "install"))
    monkeypatch.setenv("BERTH_BUILD_CACHE", str(tmp_path / "machine"))
    program = gobuild.Program(name="p", module="a.b/c", version="v1.0.0", packages=(gobuild.Package("a.b/c", "c"),))
    assert gobuild.output_dir(program) == tmp_path / "machine" / "toolchain" / "p-v1.0.0"
    assert gobuild.go_env()["GOMODCACHE"].startswith(str(tmp_path / "machine" / "go"))


def have_go():
    try:
        gobuild.go_binary()
    except RuntimeError:
        return False
    return True


@pytest.mark.skipif(not have_go(), reason="no Go toolchain")
def test_build_twice_second_is_cached_and_a_spec_change_rebuilds(tmp_path, monkeypatch):
    base = tmp_path / "data"
    # Share the machine's Go build cache when there is one (fast); the outputs stay in tmp.
    shared = ROOT / "var" / "go"
    if shared.exists():
        (base).mkdir()
        (base / "go").symlink_to(shared)
    spec = write_spec(
        tmp_path,
        f"""programs:
- name: pause
  path: {ROOT / "platform/toolchain/pause"}
  packages: ["."]
""",
    )
    lines = []
    got = gobuild.build(["pause"], lines.append, spec=spec, base=base)
    binary = got["pause"] / "pause"
    assert binary.is_file() and not any("cached" in line for line in lines)
    assert subprocess.run([binary, "-v"], capture_output=True, text=True).stdout.strip() == "pause (berth)"
    # The program's own build cache went with it (kept, all of them filled a CI machine's disk).
    assert not gobuild.build_cache(gobuild.load_spec(spec)[0], base).exists()

    lines.clear()
    gobuild.build(["pause"], lines.append, spec=spec, base=base)
    assert lines == [f"pause: cached ({got['pause']})"]

    spec.write_text(spec.read_text() + "  tags: [berthtest]\n")
    lines.clear()
    gobuild.build(["pause"], lines.append, spec=spec, base=base)
    assert any("built in" in line for line in lines), lines


@pytest.mark.skipif(not os.environ.get("BERTH_TOOLCHAIN_SLOW") or not have_go(), reason="set BERTH_TOOLCHAIN_SLOW=1")
def test_a_module_from_the_proxy_builds_with_its_version_stamp(tmp_path):
    spec = write_spec(
        tmp_path,
        """programs:
- name: cni-loopback
  module: github.com/containernetworking/plugins
  version: v1.10.0
  packages: [github.com/containernetworking/plugins/plugins/main/loopback]
  ldflags: ["-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={version}"]
""",
    )
    base = tmp_path / "data"
    if (ROOT / "var" / "go").exists():
        base.mkdir()
        (base / "go").symlink_to(ROOT / "var" / "go")
    out = gobuild.build(spec=spec, say=print, base=base)["cni-loopback"]
    result = subprocess.run([out / "loopback"], capture_output=True, text=True, env={})
    assert "CNI loopback plugin v1.10.0" in result.stdout + result.stderr
    shutil.rmtree(out)


def test_a_replace_in_the_spec_wins_over_an_inherited_one():
    gomod = "module example.com/tool\n\ngo 1.26.0\n\nreplace example.com/ext => ./pkg/ext\n"
    program = gobuild.Program(
        name="tool",
        module="example.com/tool",
        version="v3.6.12",
        packages=(gobuild.Package("example.com/tool/cmd/tool", "tool"),),
        inherit_replaces=True,
        replace=("example.com/ext => example.com/ext v0.1.0",),
    )
    mod = gobuild.parse_gomod(gobuild.wrapper_gomod(program, gomod))
    assert mod.replace == [("example.com/ext", "example.com/ext v0.1.0")]


def test_a_module_without_go_mod_is_compiled_as_the_go_of_its_vendor_mod():
    program = gobuild.Program(
        name="docker-cli",
        module="github.com/docker/cli",
        version="v29.10.0+incompatible",
        packages=(gobuild.Package("github.com/docker/cli/cmd/docker", "docker"),),
        requires_from="vendor.mod",
    )
    assert gobuild.lang_flags(program, VENDOR_MOD) == ["-gcflags=github.com/docker/cli/...=-lang=go1.24"]
