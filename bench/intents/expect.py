"""From a Home Assistant intent and its slots to what giot should do with it
on the bench's fixture home: {"status": executed|answered|refused|
needs_clarification, "actions": [[device, capability, value], ...]}.

One mapping for three uses: the expected results of the generated template
sentences (generate.py), and the scoring of hassil's and gazetteer-matcher's
recognitions (bench.py), so the three systems are judged by the same rule.

Slots are as the matchers give them: `name` is the spoken name (hassil: the
name list's value is the text said) or `name_id`, a device id (gazetteer-
matcher gives the entity id the home was built with); `area` is a room id,
`floor` a floor id; `domain` and `device_class` are Home Assistant's.

Meanings (HA's intent docs and the templates' wording, on giot's capability
conventions of the fixture):
  HassTurnOn / HassTurnOff   power on/off; lock -> locked/unlocked; cover ->
                             position 100/0; valve power; vacuum -> cleaning/
                             paused; thermostat off -> mode off (on -> heat);
                             scene on -> power on (a scene cannot be turned off)
  HassLightSet               brightness (brightness_level max=100, min=1, the
                             lowest "on" level), color temperature -> color_temp
                             in kelvin (clamped to the light's range, as
                             HA does); colours: refused (no colour
                             capability in the fixture)
  HassSetPosition            position;  HassFanSetSpeed -> speed
  HassClimateSetTemperature  target_temperature
  HassSetVolume              volume;  HassMediaPause/Unpause -> playback
                             paused/playing; HassMediaNext/Previous -> skip
                             next/previous; HassMediaPlayerMute/Unmute -> muted
  HassVacuumStart            state cleaning; HassVacuumReturnToBase -> returning;
                             HassVacuumCleanArea -> cleaning (giot's vacuum has
                             no rooms to choose)
  HassGetState, HassClimateGetTemperature   answered, no actions
Targets: a name fitting several devices (after area/floor) -> needs_
clarification; a name fitting none -> refused. A group (area/floor/domain/
device class) acts on every member that has the capability; none -> refused.
Everything else (timers, lists, weather, date/time, broadcast, media search,
lawn mowers, fan modes, relative volume, greetings) -> refused: giot must not
act on it.
"""

from __future__ import annotations

import re
import unicodedata

import fixture as fx

MODELLED = [
    "HassTurnOn", "HassTurnOff", "HassLightSet", "HassSetPosition",
    "HassClimateSetTemperature", "HassClimateGetTemperature", "HassGetState",
    "HassFanSetSpeed", "HassSetVolume", "HassMediaPause", "HassMediaUnpause",
    "HassMediaNext", "HassMediaPrevious", "HassMediaPlayerMute",
    "HassMediaPlayerUnmute", "HassVacuumStart", "HassVacuumReturnToBase",
    "HassVacuumCleanArea",
]
# Kept as sentences giot must refuse (a few each): what giot does not model.
UNSUPPORTED = [
    "HassStartTimer", "HassCancelTimer", "HassTimerStatus", "HassGetWeather",
    "HassGetCurrentTime", "HassGetCurrentDate", "HassShoppingListAddItem",
    "HassListAddItem", "HassBroadcast", "HassMediaSearchAndPlay",
    "HassLawnMowerStartMowing", "HassNevermind",
]
QUESTIONS = {"HassGetState", "HassClimateGetTemperature"}

# The domain a nameless target defaults to, per intent.
INTENT_DOMAIN = {
    "HassLightSet": "light", "HassSetPosition": "cover", "HassFanSetSpeed": "fan",
    "HassClimateSetTemperature": "climate", "HassClimateGetTemperature": "climate",
    "HassSetVolume": "media_player", "HassMediaPause": "media_player",
    "HassMediaUnpause": "media_player", "HassMediaNext": "media_player",
    "HassMediaPrevious": "media_player", "HassMediaPlayerMute": "media_player",
    "HassMediaPlayerUnmute": "media_player", "HassVacuumStart": "vacuum",
    "HassVacuumReturnToBase": "vacuum", "HassVacuumCleanArea": "vacuum",
}


def norm(text: str) -> str:
    """Case, accents of apostrophes and spacing folded, as names are compared."""
    t = unicodedata.normalize("NFC", str(text)).casefold().replace("’", "'")
    t = re.sub(r"[\s\-]+", " ", t)
    return t.strip(" .,!?")


def result(status: str, actions=()) -> dict:
    acts = sorted({(d, c, json_key(v)): [d, c, v] for d, c, v in actions}.values(),
                  key=lambda a: (a[0], a[1], str(a[2])))
    return {"status": status, "actions": acts}


def json_key(v):
    return repr(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else float(v)


def num(v):
    """A JSON number, integral when it is."""
    f = float(v)
    return int(f) if f == int(f) else f


def _name_index(lang: str) -> dict[str, list[str]]:
    idx: dict[str, list[str]] = {}
    for d in fx.DEVICES:
        for n in fx.spoken_names(d, lang):
            idx.setdefault(norm(n), []).append(d["id"])
    return idx


_NAMES: dict[str, dict[str, list[str]]] = {}


def devices_named(text: str, lang: str) -> list[str]:
    if lang not in _NAMES:
        _NAMES[lang] = _name_index(lang)
    return list(dict.fromkeys(_NAMES[lang].get(norm(text), [])))


def _in_place(d: dict, slots: dict) -> bool:
    if slots.get("area") and d["room"] != slots["area"]:
        return False
    if slots.get("floor") and fx.ROOM_FLOOR.get(d["room"]) != slots["floor"]:
        return False
    return True


def targets(intent: str, slots: dict, lang: str):
    """(devices, by_name) or a status string when the target decides it."""
    if slots.get("name_id") or slots.get("name"):
        if slots.get("name_id"):
            ids = slots["name_id"] if isinstance(slots["name_id"], list) else [slots["name_id"]]
        else:
            ids = devices_named(slots["name"], lang)
        devs = [fx.BY_ID[i] for i in ids if i in fx.BY_ID and _in_place(fx.BY_ID[i], slots)]
        if slots.get("domain"):
            narrowed = [d for d in devs if d["domain"] == slots["domain"]]
            devs = narrowed or devs
        if not devs:
            return "refused"
        if len(devs) > 1:
            return "needs_clarification"
        return devs, True
    domain = slots.get("domain") or INTENT_DOMAIN.get(intent)
    devs = [d for d in fx.DEVICES if _in_place(d, slots)]
    if domain:
        devs = [d for d in devs if d["domain"] == domain]
    if slots.get("device_class"):
        devs = [d for d in devs if d["device_class"] == slots["device_class"]]
    if not (slots.get("area") or slots.get("floor") or domain or slots.get("device_class")):
        return "refused"
    if not devs:
        return "refused"
    return devs, False


def _on_off(d: dict, on: bool):
    dom, c = d["domain"], fx.cap_names(d)
    if dom == "lock":
        return [("lock", "locked" if on else "unlocked")]
    if dom == "cover" and "position" in c:
        return [("position", 100 if on else 0)]
    if dom == "vacuum":
        return [("state", "cleaning" if on else "paused")]
    if dom == "climate":
        return [("mode", "heat" if on else "off")]
    if dom == "scene":
        return [("power", "on")] if on else None
    if "power" in c:
        return [("power", "on" if on else "off")]
    return None


def _setter(cap_name: str, value):
    def f(d):
        return [(cap_name, value)] if cap_name in fx.cap_names(d) else None
    return f


def _clamp_ct(d, kelvin):
    c = fx.cap(d, "color_temp")
    if not c or c.get("readonly"):
        return None
    return [("color_temp", num(min(max(float(kelvin), c["min"]), c["max"])))]


def _number_in_range(d, cap_name, value):
    c = fx.cap(d, cap_name)
    if not c or c.get("readonly"):
        return None
    v = float(value)
    if v < c["min"] or v > c["max"]:
        return "out_of_range"
    return [(cap_name, num(v))]


def action_for(intent: str, slots: dict):
    """A function device -> [(capability, value)] | None (cannot) | "out_of_range",
    or a status string for intents that decide without a device."""
    if intent == "HassTurnOn":
        return lambda d: _on_off(d, True)
    if intent == "HassTurnOff":
        return lambda d: _on_off(d, False)
    if intent == "HassLightSet":
        if "brightness" in slots:
            return lambda d: _number_in_range(d, "brightness", slots["brightness"])
        if "temperature" in slots:
            # Clamped to the light's range, as Home Assistant does ("candle
            # light" is 1900 K, below the fixture's 2000 K).
            return lambda d: _clamp_ct(d, slots["temperature"])
        return "refused"  # colour: no colour capability in the fixture
    if intent == "HassSetPosition":
        return lambda d: _number_in_range(d, "position", slots.get("position", -1))
    if intent == "HassFanSetSpeed":
        return lambda d: _number_in_range(d, "speed", slots.get("percentage", -1))
    if intent == "HassClimateSetTemperature":
        return lambda d: _number_in_range(d, "target_temperature", slots.get("temperature", -1))
    if intent == "HassSetVolume":
        return lambda d: _number_in_range(d, "volume", slots.get("volume_level", -1))
    simple = {
        "HassMediaPause": ("playback", "paused"), "HassMediaUnpause": ("playback", "playing"),
        "HassMediaNext": ("skip", "next"), "HassMediaPrevious": ("skip", "previous"),
        "HassMediaPlayerMute": ("muted", True), "HassMediaPlayerUnmute": ("muted", False),
        "HassVacuumStart": ("state", "cleaning"), "HassVacuumReturnToBase": ("state", "returning"),
        "HassVacuumCleanArea": ("state", "cleaning"),
    }
    if intent in simple:
        return _setter(*simple[intent])
    return "refused"


def expect(intent: str, slots: dict, lang: str) -> dict:
    """giot's expected result for a recognised intent on the fixture home."""
    slots = dict(slots)
    if intent not in MODELLED:
        return result("refused")
    if intent == "HassVacuumCleanArea":
        # The vacuum cleans wherever it is sent: the area is not its location.
        slots = {k: v for k, v in slots.items() if k not in ("area", "floor")}
        slots["domain"] = "vacuum"
    if intent in QUESTIONS:
        if slots.get("name") or slots.get("name_id"):
            t = targets(intent, slots, lang)
            if isinstance(t, str):
                return result(t)
        return result("answered")
    t = targets(intent, slots, lang)
    if isinstance(t, str):
        return result(t)
    devs, by_name = t
    act = action_for(intent, slots)
    if isinstance(act, str):
        return result(act)
    actions = []
    for d in devs:
        got = act(d)
        if got == "out_of_range":
            return result("refused")
        if got is None:
            if by_name:
                return result("refused")
            continue
        actions += [(d["id"], c, v) for c, v in got]
    if not actions:
        return result("refused")
    return result("executed", actions)


def combine(results: list[dict]) -> dict:
    """Several frames of one sentence (gazetteer-matcher's compound commands):
    all or nothing, as a giot plan is."""
    if not results:
        return result("refused")
    for s in ("refused", "needs_clarification"):
        if any(r["status"] == s for r in results):
            return result(s)
    actions = [tuple(a) for r in results for a in r["actions"]]
    if actions:
        return result("executed", actions)
    return result("answered")
