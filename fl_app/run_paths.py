"""Where a run's relative paths point: the project folder, not the SuperLink's.

``flwr run .`` starts a background SuperLink the first time, and every later
run's ServerApp and ClientApps inherit that first command's working folder,
wherever the user types ``flwr run`` next; nothing Flower hands the app
carries the user's folder. So relative ``results-dir``, ``checkpoint-dir``,
``data-path`` and ``key-file`` resolve against the folder fl-spam was
installed from (``pip install -e .``), the folder users type ``flwr run .``
in; only without such an install, against the working folder.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib.metadata import distributions
from pathlib import Path
from urllib.parse import unquote, urlparse

from .config import RunConfig


def project_dir() -> Path | None:
    """The local folder fl-spam was pip-installed from, if any and still holding pyproject.toml."""
    # A build's fl_spam.egg-info in the working folder may come first: take the installed one.
    texts = [d.read_text("direct_url.json") for d in distributions(name="fl-spam")]
    info = json.loads(next((t for t in texts if t), "{}"))
    url = urlparse(str(info.get("url", "")))
    if url.scheme != "file" or "dir_info" not in info:
        return None
    folder = Path(unquote(url.path))
    return folder if (folder / "pyproject.toml").is_file() else None


def with_absolute_paths(cfg: RunConfig, base: Path | None = None) -> RunConfig:
    """``cfg`` with every relative path made absolute against ``base``.

    ``base`` defaults to the project folder (``project_dir``), else the working folder.
    """
    folder = base or project_dir() or Path.cwd()

    def absolute(value: str) -> str:
        if not value:
            return value  # not set: stays unset
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else folder / path)

    return replace(
        cfg,
        results_dir=absolute(cfg.results_dir),
        checkpoint_dir=absolute(cfg.checkpoint_dir),
        data_path=absolute(cfg.data_path),
        key_file=absolute(cfg.key_file),
    )
