"""Write docs/message-format.schema.json from the pydantic models (run by `make schema`)."""

from __future__ import annotations

import json
from pathlib import Path

from cis.messages.invite_models import json_schema

TARGET = Path(__file__).resolve().parents[1] / "docs" / "message-format.schema.json"


def main() -> None:
    """Regenerate the schema file; a test fails whenever the models and the file differ."""
    TARGET.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
