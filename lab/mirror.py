"""The lab's binary mirror: toolchain build outputs laid out the way render/artifacts.py downloads them.

Lab hosts have no internet; they fetch every pinned artifact from `<mirror_url>/<artifact>/<version>/
<filename>`, served from the lab bridge by `lab/lab.sh mirror-start`. We build those binaries
ourselves (toolchain/build.sh), so their checksums are ours, not upstream's: `build` writes them to
`checksums.json` at the mirror's root, and load_spec (spec/binaries.py) feeds them to a lab stack
as `binaries.baseUrl` + `binaries.checksums`.

Archives are reproducible (sorted entries, zero mtimes, root owner, gzip without a timestamp), so
rebuilding the mirror from the same binaries gives the same checksums and `pulumi up` sees no change.

    python -m lab.mirror build [--stack-file Pulumi.dev.yaml] [--toolchain DIR] [--out DIR]
    python -m lab.mirror checksums|url|hosts [--stack-file ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from render.artifacts import Artifact, node_artifacts
from spec.lab_mirror import MANIFEST, gateway, mirror_dir, mirror_url, read_checksums
from spec.model import ClusterSpec
from spec.parse import parse
from spec.stack_file import read_stack_file

TOOLCHAIN_DIR = Path(os.environ.get("K8SFS_TOOLCHAIN_DIR", "/var/cache/k8s-from-scratch/toolchain"))
REGISTRY_PORT = 5000  # lab/lab.sh's default K8SFS_LAB_REGISTRY_PORT
REPO = Path(__file__).resolve().parents[1]

# The toolchain folder (toolchain/build.sh: <dir>/v<version>/linux-<arch>/) of each artifact.
TOOLCHAIN_FOLDERS = {
    "kubernetes-server": "kubernetes",
    "kubernetes-node": "kubernetes",
    "etcd": "etcd",
    "containerd": "containerd",
    "runc": "runc",
    "cni-plugins": "cni-plugins",
    "crictl": "crictl",
}


class MirrorError(Exception):
    """The mirror cannot be built as asked; the message says what to do."""


def registry_address(spec: ClusterSpec) -> str:
    """host:port of the lab's image registry (lab/lab.sh registry-start) on the bridge."""
    return f"{gateway(spec.lab.subnet)}:{REGISTRY_PORT}"


def lab_artifacts(spec: ClusterSpec) -> list[Artifact]:
    """Every artifact some lab host downloads, once each."""
    seen: dict[str, Artifact] = {}
    for node in spec.nodes:
        for artifact in node_artifacts(spec, node):
            seen.setdefault(f"{artifact.key}/{artifact.filename}", artifact)
    return list(seen.values())


def source_folder(roots: Sequence[Path], artifact: Artifact) -> Path:
    """The first of the toolchain-like roots that has a build of this artifact."""
    folder = TOOLCHAIN_FOLDERS.get(artifact.name)
    if folder is None:
        raise MirrorError(
            f"the lab cannot serve {artifact.name}: toolchain/build.sh does not build it "
            "(the lab runs containerd; set runtime.name: containerd and runtime.kata: false)"
        )
    candidates = [root / folder / f"v{artifact.version}" / f"linux-{artifact.arch}" for root in roots]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def entries(artifact: Artifact, folder: Path) -> list[tuple[str, Path]]:
    """(path inside the download, built file) for each member the install script takes out."""
    out: list[tuple[str, Path]] = []
    for member in artifact.members:
        if member.source.endswith("/*"):
            prefix = member.source[:-1]  # "./*" -> "./"
            files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("SHA256SUMS"))
            out += [(f"{prefix}{p.name}", p) for p in files]
        elif artifact.kind == "binary":
            out.append((".", folder / Path(member.dest).name))
        else:
            out.append((member.source, folder / Path(member.source).name))
    missing = [str(path) for _, path in out if not path.is_file()]
    if missing or not out:
        raise MirrorError(
            f"{artifact.name} {artifact.version} ({artifact.arch}) is not built: missing "
            f"{', '.join(missing) or folder}; run toolchain/build.sh, or pin the version it builds "
            "(toolchain/versions.env) in the lab stack"
        )
    return out


def write_tar_gz(path: Path, members: Iterable[tuple[str, Path]]) -> None:
    """A reproducible tar.gz: parent dirs first, sorted, mtime 0, root:root, no gzip timestamp
    (level 1: the mirror is local, speed matters more than size)."""
    files = sorted(members)
    dirs = sorted({str(parent) for name, _ in files for parent in Path(name).parents if str(parent) != "."})
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=1) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(_owned_by_root(info))
        for name, source in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode = source.stat().st_size, 0o755
            with source.open("rb") as handle:
                tar.addfile(_owned_by_root(info), handle)


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
    return info


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(artifact: Artifact, members: list[tuple[str, Path]]) -> str:
    """What a built download depends on: its layout and each source file's size and mtime."""
    lines = [f"{artifact.key} {artifact.filename} {artifact.kind}"]
    for name, source in sorted(members):
        st = source.stat()
        lines.append(f"{name} {source} {st.st_size} {st.st_mtime_ns}")
    return "\n".join(lines) + "\n"


def build_artifact(artifact: Artifact, roots: Sequence[Path], out: Path) -> str:
    """Writes one download into the mirror (unless up to date) and returns its "sha256:<hex>"."""
    members = entries(artifact, source_folder(roots, artifact))
    target = out / artifact.name / artifact.version / artifact.filename
    stamp_file = target.with_name(f".{target.name}.stamp")
    stamp = _stamp(artifact, members)
    if not (target.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp):
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
            tmp_path = Path(tmp.name)
        try:
            if artifact.kind == "binary":
                tmp_path.write_bytes(members[0][1].read_bytes())
            else:
                write_tar_gz(tmp_path, members)
            tmp_path.chmod(0o644)
            tmp_path.replace(target)
        finally:
            tmp_path.unlink(missing_ok=True)
        stamp_file.write_text(stamp)
    return f"sha256:{sha256_of(target)}"


def build(spec: ClusterSpec, roots: Sequence[Path], out: Path) -> dict[str, str]:
    """Lays out every artifact the lab hosts need, from the first of `roots` (toolchain-like
    folders) that has it; writes and returns {"artifact/version/arch": "sha256:<hex>"}."""
    problems: list[str] = []
    sums: dict[str, str] = {}
    for artifact in lab_artifacts(spec):
        try:
            sums[artifact.key] = build_artifact(artifact, roots, out)
        except MirrorError as err:
            problems.append(str(err))
    if problems:
        raise MirrorError("\n".join(problems))
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    manifest.write_text(json.dumps(dict(sorted(sums.items())), indent=2) + "\n")
    return sums


def spec_of_stack_file(path: Path) -> ClusterSpec:
    """The spec of a Pulumi.<stack>.yaml, parsed (not validated: only its artifacts matter here)."""
    raw, stack = read_stack_file(path)
    spec, _ = parse(raw, stack)
    return spec


def debian_runc(version: str, arch: str, extra: Path) -> None:
    """toolchain/build.sh does not build runc (cgo + libseccomp): take the binary of Debian's
    runc package (through apt, like any package) into `extra`, laid out like the toolchain."""
    folder = extra / "runc" / f"v{version}" / f"linux-{arch}"
    if (folder / "runc").is_file():
        return
    work = extra / "debian-runc"
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", f"runc:{arch}"], cwd=work, check=True, capture_output=True)
    debs = sorted(work.glob(f"runc_*_{arch}.deb"))
    if not debs:
        raise MirrorError("apt-get download runc gave no package")
    upstream = debs[-1].name.split("_")[1].split("+")[0].split("-")[0]
    if upstream != version:
        raise MirrorError(
            f"runc {version} is not built and Debian's package is runc {upstream}: "
            f"set versions.runc: {upstream} in the lab stack"
        )
    unpacked = work / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], check=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runc").write_bytes((unpacked / "usr/sbin/runc").read_bytes())
    (folder / "runc").chmod(0o755)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.mirror", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("build", "checksums", "url", "hosts"))
    parser.add_argument("--stack-file", type=Path, default=REPO / "Pulumi.dev.yaml")
    parser.add_argument("--toolchain", type=Path, default=TOOLCHAIN_DIR)
    parser.add_argument("--out", type=Path, default=None, help="default: <lab.workDir>/mirror")
    args = parser.parse_args(argv)
    spec = spec_of_stack_file(args.stack_file)
    out = args.out or mirror_dir(spec)
    try:
        if args.command == "build":
            extra = Path(spec.lab.work_dir) / "toolchain-extra"
            runc = next((a for a in lab_artifacts(spec) if a.name == "runc"), None)
            if runc is not None and not source_folder([args.toolchain], runc).is_dir():
                debian_runc(runc.version, runc.arch, extra)
            sums = build(spec, [args.toolchain, extra], out)
            print(f"mirror {out}: {len(sums)} artifacts for {mirror_url(spec)}", file=sys.stderr)
            print(json.dumps(sums, indent=2))
        elif args.command == "checksums":
            print(json.dumps(read_checksums(out), indent=2))
        elif args.command == "hosts":
            for node in spec.nodes:
                print(node.name, node.address)
        else:
            print(mirror_url(spec))
    except (MirrorError, subprocess.CalledProcessError, OSError) as err:
        print(f"lab mirror: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
