"""The default seccomp profile: Docker's profile format read for one architecture, rules picked
by a container's capabilities, Docker's own restrictions on top, and its place in config.json."""

from __future__ import annotations

import dataclasses
import errno
from pathlib import Path
from typing import Any

import pytest

from swarmpy.engine import bundle, seccomp
from swarmpy.engine.images.records import ImageConfig
from swarmpy.engine.spec import ContainerConfig
from swarmpy.errors import RuntimeFailure

# A small profile in the format of /usr/share/containers/seccomp.json.
DOC: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 38,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": ["swapon"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {
            "names": ["read", "write", "clone", "clone3", "mount", "unshare", "keyctl"],
            "action": "SCMP_ACT_ALLOW",
        },
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
        },
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["cacheflush"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
        {
            "names": ["chroot"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "excludes": {"caps": ["CAP_SYS_CHROOT"]},
        },
    ],
}
X86 = seccomp.parse_profile(DOC, "x86_64")


def rules_for(profile: seccomp.Profile, *caps: str) -> list[dict[str, Any]]:
    syscalls: list[dict[str, Any]] = seccomp.oci_seccomp(profile, caps)["syscalls"]
    return syscalls


def rules_naming(syscalls: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in syscalls if name in r["names"]]


def only_rule(syscalls: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (rule,) = rules_naming(syscalls, name)
    return rule


def test_the_profile_keeps_this_architectures_rules() -> None:
    assert X86.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86")
    x86 = rules_for(X86)
    assert rules_naming(x86, "arch_prctl")
    assert not rules_naming(x86, "cacheflush")
    arm = rules_for(seccomp.parse_profile(DOC, "aarch64"))
    assert rules_naming(arm, "cacheflush")
    assert not rules_naming(arm, "arch_prctl")


def test_an_unknown_architecture_is_refused() -> None:
    with pytest.raises(RuntimeFailure, match="mips"):
        seccomp.parse_profile(DOC, "mips")


def test_the_oci_form() -> None:
    oci = seccomp.oci_seccomp(X86, bundle.DEFAULT_CAPS)
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO"
    assert oci["defaultErrnoRet"] == 38
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert only_rule(oci["syscalls"], "personality") == {
        "names": ["personality"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
    }
    assert only_rule(oci["syscalls"], "swapon")["errnoRet"] == errno.EPERM


def test_capabilities_pick_the_rules() -> None:
    without = only_rule(rules_for(X86), "chroot")
    assert (without["action"], without["errnoRet"]) == ("SCMP_ACT_ERRNO", errno.EPERM)
    assert only_rule(rules_for(X86, "CAP_SYS_CHROOT"), "chroot")["action"] == "SCMP_ACT_ALLOW"


@pytest.mark.parametrize("name", ["mount", "unshare"])
def test_namespaces_and_mounts_need_cap_sys_admin_as_with_docker(name: str) -> None:
    refused = only_rule(rules_for(X86, *bundle.DEFAULT_CAPS), name)
    assert (refused["action"], refused["errnoRet"]) == ("SCMP_ACT_ERRNO", errno.EPERM)
    allowed = only_rule(rules_for(X86, "CAP_SYS_ADMIN"), name)
    assert allowed["action"] == "SCMP_ACT_ALLOW"


def test_clone_may_not_make_namespaces_without_cap_sys_admin() -> None:
    syscalls = rules_for(X86, *bundle.DEFAULT_CAPS)
    clone = only_rule(syscalls, "clone")
    assert clone["action"] == "SCMP_ACT_ALLOW"
    (flags,) = clone["args"]
    assert flags["op"] == "SCMP_CMP_MASKED_EQ"
    assert (flags["index"], flags["valueTwo"]) == (0, 0)
    assert flags["value"] & 0x10000000  # CLONE_NEWUSER
    assert not flags["value"] & 0x00010000  # CLONE_THREAD: threads are fine
    assert only_rule(syscalls, "clone3")["errnoRet"] == errno.ENOSYS
    assert "args" not in only_rule(rules_for(X86, "CAP_SYS_ADMIN"), "clone")
    s390 = dataclasses.replace(X86, clone_flags_index=1)
    assert only_rule(rules_for(s390), "clone")["args"][0]["index"] == 1


@pytest.mark.parametrize("caps", [(), ("CAP_SYS_ADMIN",)], ids=["default", "sys_admin"])
def test_the_keyring_is_refused_whatever_the_profile_and_the_capabilities(
    caps: tuple[str, ...],
) -> None:
    keyctl = only_rule(rules_for(X86, *caps), "keyctl")
    assert (keyctl["action"], keyctl["errnoRet"]) == ("SCMP_ACT_ERRNO", errno.EPERM)


def test_a_missing_profile_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match=seccomp.PROFILE_PACKAGE):
        seccomp.load_profile(tmp_path / "seccomp.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(RuntimeFailure, match="cannot read"):
        seccomp.load_profile(bad)


def test_the_bundle_confines_each_container_by_its_own_capabilities() -> None:
    def linux(**changes: Any) -> dict[str, Any]:
        container = ContainerConfig("c1", "web", "busybox", "/run/netns/x", "h", "", "", **changes)
        paths = bundle.BundlePaths(Path("/c/ctr"), Path("/c/ctr/rootfs"), Path("/c/volumes"))
        config = bundle.build_config(
            ImageConfig(image_id="sha256:abc", cmd=("sh",)),
            container,
            paths,
            cgroups_path="/sp/c1",
            seccomp_profile=X86,
        )
        section: dict[str, Any] = config["linux"]
        return section

    plain = linux()["seccomp"]
    assert only_rule(plain["syscalls"], "unshare")["action"] == "SCMP_ACT_ERRNO"
    admin = linux(cap_add=("SYS_ADMIN",))["seccomp"]
    assert only_rule(admin["syscalls"], "unshare")["action"] == "SCMP_ACT_ALLOW"
