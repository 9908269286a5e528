"""A throwaway federation for one machine: an identity key per node, a file that pins them all."""

from __future__ import annotations

from pathlib import Path

from strategies import wire
from strategies.identity import new_identity_key


def make_federation(workdir: Path, members: int) -> list[dict[str, str]]:
    """Identity keys ``member-0 .. member-<members-1>`` (0600) and ``federation.toml`` in
    ``workdir``; the node-config entries of each node, in partition order."""
    workdir.mkdir(parents=True, exist_ok=True)
    federation = workdir / "federation.toml"
    lines, configs = ["[members]"], []
    for i in range(members):
        key_path = workdir / f"member-{i}.key"
        lines.append(f'member-{i} = "{new_identity_key(key_path).hex()}"')
        configs.append(
            {
                wire.NODE_FEDERATION_FILE: str(federation),
                wire.NODE_MEMBER: f"member-{i}",
                wire.NODE_IDENTITY_KEY: str(key_path),
            }
        )
    federation.write_text("\n".join(lines) + "\n")
    return configs
