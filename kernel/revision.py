"""Developer helper: autogenerate a migration for a process against a scratch SQLite.

python -m kernel.revision gateway "message"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from kernel.migrations import _in_thread, alembic_config, upgrade

ROOT = Path(__file__).resolve().parent.parent
LOCATIONS = {
    "gateway": ROOT / "gateway" / "migrations",
    "roster": ROOT / "services" / "roster" / "migrations",
    "recruitment": ROOT / "services" / "recruitment" / "migrations",
    "compensation": ROOT / "services" / "compensation" / "migrations",
}


def main() -> None:
    name, message = sys.argv[1], sys.argv[2]
    location = LOCATIONS[name]
    versions = location / "versions"
    before = set(versions.glob("*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/scratch.db"
        upgrade(location, url)
        cfg = alembic_config(location, url)
        _in_thread(lambda: command.revision(cfg, message=message, autogenerate=True))
    for new in set(versions.glob("*.py")) - before:
        text = new.read_text().replace("astext_type=Text()", "astext_type=sa.Text()")
        number = len(before) + 1
        slug = new.stem.split("_", 1)[1] if "_" in new.stem else new.stem
        target = versions / f"{number:04d}_{slug}.py"
        target.write_text(text)
        new.unlink()
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
