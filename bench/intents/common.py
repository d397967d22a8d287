"""What the bench's scripts share: Home Assistant's templates for a language
(from the pinned home-assistant-intents wheel, parsed by hassil) and the
fixture home as hassil slot lists and as a gazetteer-matcher home.

The slot lists are built as Home Assistant's default agent builds them: the
`name` list holds every device name and alias (value: the text said; context:
the entity's domain and device class, which the templates' `requires_context`
test), `area` every room name and alias (value: the room id) and `floor`
every floor name and alias (value: the floor id).
"""

from __future__ import annotations

import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fixture as fx  # noqa: E402

REPO = os.path.abspath(os.path.join(fx.HERE, "..", ".."))
EVAL_DIR = os.path.join(REPO, "tests", "eval", "templates")


@functools.lru_cache(maxsize=None)
def intents(lang: str):
    from hassil import Intents
    from home_assistant_intents import get_intents

    data = get_intents(lang)
    if data is None:
        raise SystemExit(f"home-assistant-intents has no templates for {lang!r}")
    return Intents.from_dict(data)


def entity_context(d: dict) -> dict:
    ctx = {"domain": d["domain"]}
    if d.get("device_class"):
        ctx["device_class"] = d["device_class"]
    return ctx


@functools.lru_cache(maxsize=None)
def slot_lists(lang: str) -> dict:
    from hassil import TextSlotList, TextSlotValue
    from hassil.expression import TextChunk

    def value(text, out, ctx=None):
        return TextSlotValue(text_in=TextChunk(text), value_out=out, context=ctx)

    names = [value(n, n, entity_context(d)) for d in fx.DEVICES for n in fx.spoken_names(d, lang)]
    areas = [value(n, r["id"]) for r in fx.ROOMS for n in fx.spoken_names(r, lang)]
    floors = [value(n, f["id"]) for f in fx.FLOORS for n in fx.spoken_names(f, lang)]
    return {
        "name": TextSlotList(name="name", values=names),
        "area": TextSlotList(name="area", values=areas),
        "floor": TextSlotList(name="floor", values=floors),
    }


def gazetteer_home(lang: str = "en") -> dict:
    """The fixture as gazetteer-matcher's home (ids are the fixture's ids)."""
    areas = {}
    for r in fx.ROOMS:
        name, aliases = r["names"][lang]
        areas[r["id"]] = {"name": name, "aliases": list(aliases), "floor": fx.ROOM_FLOOR.get(r["id"])}
    floors = {}
    for f in fx.FLOORS:
        name, aliases = f["names"][lang]
        floors[f["id"]] = {"name": name, "aliases": list(aliases)}
    entities = {}
    for d in fx.DEVICES:
        name, aliases = d["names"][lang]
        e = {"name": name, "aliases": list(aliases), "domain": d["domain"], "area": d["room"]}
        if d.get("device_class"):
            e["device_class"] = d["device_class"]
        entities[d["id"]] = e
    return {"areas": areas, "floors": floors, "entities": entities}


def read_jsonl(path: str) -> list[dict]:
    import json

    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: str, rows: list[dict]) -> None:
    import json

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
