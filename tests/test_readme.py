"""The README's layout table and command list say what the code has."""

import re
import subprocess
from pathlib import Path

from fl_app.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def tracked_modules() -> list[str]:
    files = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [f for f in files if not f.startswith("tests/") and not f.endswith("__init__.py")]


def test_the_layout_table_names_every_module():
    layout = README[README.index("## Layout") :]
    missing = [f for f in tracked_modules() if f"`{Path(f).name}`" not in layout]
    assert tracked_modules() and missing == []


def test_the_command_list_is_what_fl_spam_help_offers():
    listed = README[README.index("## The command line") :]
    listed = listed[: listed.index("```", listed.index("```") + 3)]
    in_readme = set(re.findall(r"^fl-spam ([a-z-]+(?: [a-z]+)?)", listed, re.M))
    commands = set()
    for action in build_parser()._subparsers._group_actions:  # argparse keeps no public list
        for name, sub in action.choices.items():
            nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
            if nested:
                commands |= {f"{name} {inner}" for inner in nested[0].choices}
            else:
                commands.add(name)
    assert commands == {c if c.split()[0] == "data" else c.split()[0] for c in in_readme}
