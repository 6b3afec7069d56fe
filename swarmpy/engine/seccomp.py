"""The default seccomp profile of every container, as the OCI config's ``linux.seccomp``.

The profile is the one Debian ships in golang-github-containers-common
(``/usr/share/containers/seccomp.json``), in the format Docker and podman share: rules that
apply only on some architectures (``includes.arches``) or only when the container has, or
lacks, some capabilities (``includes.caps``, ``excludes.caps``). ``load_profile`` reads it once
when the engine starts, keeping the rules of this machine's architecture; ``oci_seccomp`` picks
the rules for one container's capabilities, as Docker does when it creates a container.

That profile is podman's, which lets any container make namespaces and mounts (for rootless
podman inside a container). Docker lets only a container with CAP_SYS_ADMIN do that, and no
container use the kernel keyring, which is not namespaced; swarmpy runs Docker's workloads, so
``oci_seccomp`` keeps those rules of Docker's on top (``SYS_ADMIN_ONLY``, ``KEYRING``).
"""

from __future__ import annotations

import errno
import json
import platform
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmpy.errors import RuntimeFailure

PROFILE_PATH = Path("/usr/share/containers/seccomp.json")
PROFILE_PACKAGE = "golang-github-containers-common"

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"

# Docker's rules kept on top of the profile: syscalls only a container with CAP_SYS_ADMIN may
# make (mounts, new namespaces, the kernel log), and the keyring, which no container may use.
SYS_ADMIN_ONLY = frozenset(
    {
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "mount",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "pivot_root",
        "syslog",
        "umount",
        "umount2",
        "unshare",
    }
)
KEYRING = frozenset({"add_key", "keyctl", "request_key"})
# Without CAP_SYS_ADMIN, clone may not make namespaces (Docker's flag filter: NEWNS, NEWUTS,
# NEWIPC, NEWUSER, NEWPID, NEWNET, NEWCGROUP), and clone3, whose flags seccomp cannot read,
# answers ENOSYS so that libc falls back to clone.
CLONE_NAMESPACE_FLAGS = 0x7E020000

# The machine's architecture: its name in the profile's ``includes.arches`` (Go's) and its
# libseccomp name in ``archMap``.
_ARCHES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
}


@dataclass(frozen=True)
class Rule:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[tuple[tuple[str, Any], ...], ...] = ()  # each an OCI seccomp arg, as pairs
    caps: frozenset[str] = frozenset()  # the rule applies only with all of these
    without_caps: frozenset[str] = frozenset()  # ... and only without any of these

    def applies(self, caps: Collection[str]) -> bool:
        return self.caps.issubset(caps) and self.without_caps.isdisjoint(caps)

    def oci(self, names: tuple[str, ...]) -> dict[str, Any]:
        rule: dict[str, Any] = {"names": list(names), "action": self.action}
        if self.errno_ret is not None:
            rule["errnoRet"] = self.errno_ret
        if self.args:
            rule["args"] = [dict(arg) for arg in self.args]
        return rule


@dataclass(frozen=True)
class Profile:
    """A profile's rules for one architecture, before capabilities pick among them."""

    default_action: str
    default_errno_ret: int | None
    architectures: tuple[str, ...]
    rules: tuple[Rule, ...]
    # s390 passes clone's flags second, everyone else first.
    clone_flags_index: int = 0


def host_arch() -> str:
    return platform.machine()


def parse_profile(doc: Mapping[str, Any], machine: str) -> Profile:
    """The rules of ``doc`` (Docker's profile format) that apply on ``machine``."""
    if machine not in _ARCHES:
        raise RuntimeFailure(f"no seccomp support for this architecture ({machine})")
    go_arch, scmp_arch = _ARCHES[machine]
    architectures: tuple[str, ...] = ()
    for entry in doc.get("archMap") or ():
        if entry.get("architecture") == scmp_arch:
            architectures = (scmp_arch, *entry.get("subArchitectures", ()))
    rules = []
    for raw in doc.get("syscalls") or ():
        includes = raw.get("includes") or {}
        excludes = raw.get("excludes") or {}
        if includes.get("arches") and go_arch not in includes["arches"]:
            continue
        if go_arch in (excludes.get("arches") or ()):
            continue
        if includes.get("minKernel"):
            # Not in the profiles this engine reads; refusing beats guessing the kernel.
            raise RuntimeFailure("seccomp profile: rules by kernel version are not supported")
        rules.append(
            Rule(
                names=tuple(raw["names"]),
                action=raw["action"],
                errno_ret=raw.get("errnoRet"),
                args=tuple(tuple(sorted(arg.items())) for arg in raw.get("args") or ()),
                caps=frozenset(includes.get("caps") or ()),
                without_caps=frozenset(excludes.get("caps") or ()),
            )
        )
    return Profile(
        default_action=doc["defaultAction"],
        default_errno_ret=doc.get("defaultErrnoRet"),
        architectures=architectures,
        rules=tuple(rules),
        clone_flags_index=1 if machine == "s390x" else 0,
    )


def load_profile(path: Path = PROFILE_PATH, machine: str | None = None) -> Profile:
    """Read and parse the profile file; a missing one is an error: containers are never run
    without a profile."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise RuntimeFailure(
            f"no seccomp profile at {path}: install the {PROFILE_PACKAGE} package"
        ) from None
    except (OSError, ValueError) as e:
        raise RuntimeFailure(f"cannot read the seccomp profile {path}: {e}") from None
    return parse_profile(doc, machine or host_arch())


def oci_seccomp(profile: Profile, caps: Collection[str]) -> dict[str, Any]:
    """``linux.seccomp`` for a container with the capabilities ``caps`` (CAP_* names)."""
    sys_admin = "CAP_SYS_ADMIN" in caps
    # Docker's restrictions: taken out of every rule of the profile, then ruled on here.
    denied = set(KEYRING)
    if not sys_admin:
        denied |= SYS_ADMIN_ONLY | {"clone", "clone3"}
    syscalls = []
    for rule in profile.rules:
        if not rule.applies(caps):
            continue
        names = tuple(n for n in rule.names if n not in denied)
        if names:
            syscalls.append(rule.oci(names))
    eperm = sorted(denied - {"clone", "clone3"})
    syscalls.append({"names": eperm, "action": ERRNO, "errnoRet": errno.EPERM})
    if not sys_admin:
        no_namespaces = {
            "index": profile.clone_flags_index,
            "value": CLONE_NAMESPACE_FLAGS,
            "valueTwo": 0,
            "op": "SCMP_CMP_MASKED_EQ",
        }
        syscalls.append({"names": ["clone"], "action": ALLOW, "args": [no_namespaces]})
        syscalls.append({"names": ["clone3"], "action": ERRNO, "errnoRet": errno.ENOSYS})
    seccomp: dict[str, Any] = {
        "defaultAction": profile.default_action,
        "architectures": list(profile.architectures),
        "syscalls": syscalls,
    }
    if profile.default_errno_ret is not None:
        seccomp["defaultErrnoRet"] = profile.default_errno_ret
    return seccomp
