"""The fixture home of issue 13's intent bench, in four languages.

One table of devices (ids, kinds, rooms, capabilities, topics: the same in
every language) with each device's name and aliases in English, German,
French and Spanish, plus the rooms and floors. `python3 fixture.py` writes
bench/intents/home.<lang>.yaml (giot registries, DESIGN.md §2 plus the
top-level `floors:` and `rooms:` keys); the other bench scripts import this
module for what Home Assistant knows of an entity that giot's registry does
not carry (its HA domain and device class), and to read a home back.

Two floors, eight rooms (the garden on no floor), 40 devices. Deliberate
traps: "ceiling light" (and its translations) is an alias of two lights in
different rooms, so a bare "ceiling light" needs clarification; two locks; a
study with exactly one light; lights with and without brightness.
No device is `safety: confirm`: the bench compares understanding.
"""

from __future__ import annotations

import os
import sys

LANGS = ("en", "de", "fr", "es")
HERE = os.path.dirname(os.path.abspath(__file__))

# ----------------------------------------------------------------- capabilities
ONOFF = {"name": "power", "type": "enum", "values": ["on", "off"]}
BRIGHT = {"name": "brightness", "type": "number", "min": 0, "max": 100, "unit": "%"}
CT = {"name": "color_temp", "type": "number", "min": 2000, "max": 6500, "unit": "K"}
SPEED = {"name": "speed", "type": "number", "min": 0, "max": 100, "unit": "%"}
POSITION = {"name": "position", "type": "number", "min": 0, "max": 100, "unit": "%"}
LOCK = {"name": "lock", "type": "enum", "values": ["locked", "unlocked"]}
TARGET = {"name": "target_temperature", "type": "number", "min": 5, "max": 30, "step": 0.5, "unit": "°C"}
MODE = {"name": "mode", "type": "enum", "values": ["heat", "cool", "auto", "off"]}
CURRENT = {"name": "current_temperature", "type": "number", "min": -40, "max": 60, "unit": "°C", "readonly": True}
TEMP = {"name": "temperature", "type": "number", "min": -40, "max": 60, "unit": "°C", "readonly": True}
HUMID = {"name": "humidity", "type": "number", "min": 0, "max": 100, "unit": "%", "readonly": True}
OPEN = {"name": "open", "type": "bool", "readonly": True}
VOLUME = {"name": "volume", "type": "number", "min": 0, "max": 100, "unit": "%"}
MUTED = {"name": "muted", "type": "bool"}
PLAYBACK = {"name": "playback", "type": "enum", "values": ["playing", "paused", "stopped"]}
SKIP = {"name": "skip", "type": "enum", "values": ["next", "previous"]}
VACUUM = {"name": "state", "type": "enum", "values": ["cleaning", "docked", "returning", "paused", "idle"]}
SCENE = {"name": "power", "type": "enum", "values": ["on"]}

KIND_CAPS = {
    "light_full": [ONOFF, BRIGHT, CT],
    "light_dim": [ONOFF, BRIGHT],
    "light_onoff": [ONOFF],
    "switch": [ONOFF],
    "plug": [ONOFF],
    "valve": [ONOFF],
    "fan": [ONOFF, SPEED],
    "cover": [POSITION],
    "lock": [LOCK],
    "thermostat": [TARGET, MODE, CURRENT],
    "media_player": [ONOFF, VOLUME, MUTED, PLAYBACK, SKIP],
    "vacuum": [VACUUM],
    "scene": [SCENE],
    "temp_humid": [TEMP, HUMID],
    "temp": [TEMP],
    "contact": [OPEN],
}

# ---------------------------------------------------------------- floors, rooms
FLOORS = [
    {"id": "ground_floor", "level": 0,
     "rooms": ["hallway", "living_room", "kitchen", "garage"],
     "names": {"en": ("Ground floor", ["downstairs", "ground level"]),
               "de": ("Erdgeschoss", ["unten", "EG"]),
               "fr": ("Rez-de-chaussée", ["en bas", "rez de chaussée"]),
               "es": ("Planta baja", ["abajo", "piso de abajo"])}},
    {"id": "upstairs", "level": 1,
     "rooms": ["bedroom", "study", "bathroom"],
     "names": {"en": ("Upstairs", ["first floor", "upper floor"]),
               "de": ("Obergeschoss", ["oben", "erster Stock", "OG"]),
               "fr": ("Étage", ["premier étage", "en haut"]),
               "es": ("Planta alta", ["arriba", "primer piso"])}},
]

ROOMS = [
    {"id": "hallway", "names": {"en": ("Hallway", ["hall", "entrance"]), "de": ("Flur", ["Diele", "Eingang"]),
                                "fr": ("Entrée", ["couloir"]), "es": ("Pasillo", ["entrada", "recibidor"])}},
    {"id": "living_room", "names": {"en": ("Living room", ["lounge"]), "de": ("Wohnzimmer", ["Stube"]),
                                    "fr": ("Salon", ["séjour"]), "es": ("Salón", ["sala de estar"])}},
    {"id": "kitchen", "names": {"en": ("Kitchen", []), "de": ("Küche", []),
                                "fr": ("Cuisine", []), "es": ("Cocina", [])}},
    {"id": "garage", "names": {"en": ("Garage", []), "de": ("Garage", []),
                               "fr": ("Garage", []), "es": ("Garaje", [])}},
    {"id": "garden", "names": {"en": ("Garden", ["backyard", "yard"]), "de": ("Garten", []),
                               "fr": ("Jardin", []), "es": ("Jardín", ["patio"])}},
    {"id": "bedroom", "names": {"en": ("Bedroom", ["master bedroom"]), "de": ("Schlafzimmer", []),
                                "fr": ("Chambre", []), "es": ("Dormitorio", ["habitación"])}},
    {"id": "study", "names": {"en": ("Study", ["office"]), "de": ("Arbeitszimmer", ["Büro"]),
                              "fr": ("Bureau", []), "es": ("Despacho", ["estudio"])}},
    {"id": "bathroom", "names": {"en": ("Bathroom", []), "de": ("Badezimmer", ["Bad"]),
                                 "fr": ("Salle de bain", ["salle de bains"]), "es": ("Baño", ["cuarto de baño"])}},
]

# ----------------------------------------------------------------------- devices
# (id, giot kind, capability set, room, HA domain, HA device class, names)
def _d(id, kind, caps, room, domain, device_class, en, de, fr, es):
    return {"id": id, "kind": kind, "caps": caps, "room": room, "domain": domain,
            "device_class": device_class, "names": {"en": en, "de": de, "fr": fr, "es": es}}


DEVICES = [
    # hallway
    _d("hall_light", "light", "light_full", "hallway", "light", None,
       ("Hall light", ["hallway light", "corridor light"]), ("Flurlicht", ["Flurlampe"]),
       ("Lumière du couloir", ["lampe de l'entrée"]), ("Luz del pasillo", ["lámpara del recibidor"])),
    _d("front_door", "lock", "lock", "hallway", "lock", None,
       ("Front door", ["front door lock", "main door"]), ("Haustür", ["Haustürschloss"]),
       ("Porte d'entrée", ["serrure de la porte d'entrée"]), ("Puerta principal", ["cerradura de la entrada"])),
    _d("front_door_contact", "sensor", "contact", "hallway", "binary_sensor", "door",
       ("Front door sensor", ["door contact"]), ("Haustürkontakt", ["Türsensor"]),
       ("Capteur de porte", ["détecteur de la porte"]), ("Sensor de la puerta", ["contacto de la puerta"])),
    _d("robot_vacuum", "vacuum", "vacuum", "hallway", "vacuum", None,
       ("Robot vacuum", ["vacuum", "Robbie"]), ("Saugroboter", ["Staubsauger"]),
       ("Aspirateur robot", ["aspirateur"]), ("Robot aspirador", ["aspiradora"])),
    # living room
    _d("living_ceiling_light", "light", "light_full", "living_room", "light", None,
       ("Living room ceiling light", ["ceiling light", "big light"]), ("Wohnzimmerlampe", ["Deckenlampe"]),
       ("Plafonnier du salon", ["plafonnier"]), ("Lámpara del salón", ["luz del techo"])),
    _d("floor_lamp", "light", "light_dim", "living_room", "light", None,
       ("Floor lamp", ["reading lamp"]), ("Stehlampe", ["Leselampe"]),
       ("Lampadaire", ["lampe de lecture"]), ("Lámpara de pie", ["lámpara de lectura"])),
    _d("led_strip", "light", "light_onoff", "living_room", "light", None,
       ("LED strip", ["TV backlight"]), ("LED-Streifen", ["Lichtleiste"]),
       ("Ruban LED", ["bande LED"]), ("Tira LED", ["tira de luces"])),
    _d("tv", "media_player", "media_player", "living_room", "media_player", "tv",
       ("TV", ["television"]), ("Fernseher", ["TV"]),
       ("Télé", ["télévision"]), ("Televisión", ["tele"])),
    _d("living_blinds", "cover", "cover", "living_room", "cover", "blind",
       ("Living room blinds", ["patio blinds"]), ("Wohnzimmerrollo", ["Terrassenrollo"]),
       ("Store du salon", ["store de la baie"]), ("Persiana del salón", ["estor del salón"])),
    _d("living_thermostat", "thermostat", "thermostat", "living_room", "climate", None,
       ("Living room thermostat", ["downstairs thermostat"]), ("Wohnzimmerthermostat", ["Heizung unten"]),
       ("Thermostat du salon", ["chauffage du bas"]), ("Termostato del salón", ["calefacción de abajo"])),
    _d("living_sensor", "sensor", "temp_humid", "living_room", "sensor", "temperature",
       ("Living room climate sensor", ["lounge sensor"]), ("Wohnzimmer-Klimasensor", ["Raumfühler"]),
       ("Sonde du salon", ["capteur du salon"]), ("Sensor del salón", ["sonda del salón"])),
    _d("movie_night", "scene", "scene", "living_room", "scene", None,
       ("Movie night", ["cinema mode"]), ("Filmabend", ["Kinomodus"]),
       ("Soirée cinéma", ["mode cinéma"]), ("Noche de cine", ["modo cine"])),
    # kitchen
    _d("kitchen_light", "light", "light_full", "kitchen", "light", None,
       ("Kitchen light", ["kitchen ceiling light"]), ("Küchenlicht", ["Küchenlampe"]),
       ("Lumière de la cuisine", ["plafonnier de la cuisine"]), ("Luz de la cocina", ["lámpara de la cocina"])),
    _d("counter_lights", "light", "light_onoff", "kitchen", "light", None,
       ("Counter lights", ["under cabinet lights"]), ("Unterschrankleuchten", ["Arbeitsplattenlicht"]),
       ("Réglette du plan de travail", ["éclairage sous meuble"]), ("Luces de la encimera", ["luces bajo mueble"])),
    _d("pendant_lamp", "light", "light_dim", "kitchen", "light", None,
       ("Pendant lamp", ["island light"]), ("Pendelleuchte", ["Kücheninsellicht"]),
       ("Suspension", ["lampe de l'îlot"]), ("Lámpara colgante", ["luz de la isla"])),
    _d("coffee_machine", "plug", "plug", "kitchen", "switch", "outlet",
       ("Coffee machine", ["coffee maker"]), ("Kaffeemaschine", ["Kaffeeautomat"]),
       ("Machine à café", ["cafetière"]), ("Cafetera", ["máquina de café"])),
    _d("extractor_fan", "fan", "fan", "kitchen", "fan", None,
       ("Extractor fan", ["cooker hood"]), ("Dunstabzug", ["Abzugshaube"]),
       ("Hotte", ["hotte aspirante"]), ("Extractor", ["campana extractora"])),
    _d("kitchen_window", "sensor", "contact", "kitchen", "binary_sensor", "window",
       ("Kitchen window sensor", ["kitchen window"]), ("Küchenfenster", ["Fensterkontakt Küche"]),
       ("Fenêtre de la cuisine", ["capteur de fenêtre"]), ("Ventana de la cocina", ["sensor de la ventana"])),
    _d("dinner_scene", "scene", "scene", "kitchen", "scene", None,
       ("Dinner", ["dinner time"]), ("Abendessen", ["Essenszeit"]),
       ("Dîner", ["l'heure du dîner"]), ("Cena", ["hora de cenar"])),
    # garage
    _d("garage_door", "cover", "cover", "garage", "cover", "garage",
       ("Garage door", ["garage gate"]), ("Garagentor", ["Garagentür"]),
       ("Porte du garage", ["porte de garage"]), ("Puerta del garaje", ["portón del garaje"])),
    _d("garage_light", "light", "light_onoff", "garage", "light", None,
       ("Garage light", ["workshop light"]), ("Garagenlicht", ["Werkstattlicht"]),
       ("Lumière du garage", ["néon du garage"]), ("Luz del garaje", ["fluorescente del garaje"])),
    _d("side_door", "lock", "lock", "garage", "lock", None,
       ("Side door", ["garage side door"]), ("Seitentür", ["Garagenseitentür"]),
       ("Porte latérale", ["porte de service"]), ("Puerta lateral", ["puerta de servicio"])),
    # garden
    _d("sprinkler", "valve", "valve", "garden", "valve", "water",
       ("Sprinkler", ["lawn sprinkler", "irrigation"]), ("Rasensprenger", ["Bewässerung"]),
       ("Arroseur", ["arrosage"]), ("Aspersor", ["riego"])),
    _d("garden_lights", "light", "light_onoff", "garden", "light", None,
       ("Garden lights", ["patio lights"]), ("Gartenbeleuchtung", ["Terrassenlicht"]),
       ("Lumières du jardin", ["éclairage de la terrasse"]), ("Luces del jardín", ["luces de la terraza"])),
    _d("fountain_pump", "switch", "switch", "garden", "switch", None,
       ("Fountain pump", ["fountain"]), ("Brunnenpumpe", ["Springbrunnen"]),
       ("Pompe de la fontaine", ["fontaine"]), ("Bomba de la fuente", ["fuente"])),
    _d("outdoor_sensor", "sensor", "temp", "garden", "sensor", "temperature",
       ("Outdoor temperature sensor", ["outside thermometer"]), ("Außenfühler", ["Außenthermometer"]),
       ("Sonde extérieure", ["thermomètre extérieur"]), ("Sensor exterior", ["termómetro exterior"])),
    # bedroom
    _d("bedroom_ceiling_light", "light", "light_full", "bedroom", "light", None,
       ("Bedroom ceiling light", ["ceiling light"]), ("Schlafzimmerlampe", ["Deckenlampe"]),
       ("Plafonnier de la chambre", ["plafonnier"]), ("Lámpara del dormitorio", ["luz del techo"])),
    _d("bedside_left", "light", "light_dim", "bedroom", "light", None,
       ("Left bedside lamp", ["my bedside lamp"]), ("Nachttischlampe links", ["linke Nachttischlampe"]),
       ("Lampe de chevet gauche", ["ma lampe de chevet"]), ("Lámpara de la mesita izquierda", ["mi lámpara de noche"])),
    _d("bedside_right", "light", "light_dim", "bedroom", "light", None,
       ("Right bedside lamp", ["partner's bedside lamp"]), ("Nachttischlampe rechts", ["rechte Nachttischlampe"]),
       ("Lampe de chevet droite", ["l'autre lampe de chevet"]), ("Lámpara de la mesita derecha", ["la otra lámpara de noche"])),
    _d("bedroom_blinds", "cover", "cover", "bedroom", "cover", "blind",
       ("Bedroom blinds", ["bedroom shades"]), ("Schlafzimmerrollo", ["Rollladen im Schlafzimmer"]),
       ("Volet de la chambre", ["store de la chambre"]), ("Persiana del dormitorio", ["estor del dormitorio"])),
    _d("bedroom_fan", "fan", "fan", "bedroom", "fan", None,
       ("Bedroom fan", ["ceiling fan"]), ("Schlafzimmerventilator", ["Deckenventilator"]),
       ("Ventilateur de la chambre", ["ventilateur de plafond"]), ("Ventilador del dormitorio", ["ventilador de techo"])),
    _d("bedroom_thermostat", "thermostat", "thermostat", "bedroom", "climate", None,
       ("Bedroom thermostat", ["upstairs thermostat"]), ("Schlafzimmerthermostat", ["Heizung oben"]),
       ("Thermostat de la chambre", ["chauffage du haut"]), ("Termostato del dormitorio", ["calefacción de arriba"])),
    _d("goodnight_scene", "scene", "scene", "bedroom", "scene", None,
       ("Good night", ["bedtime"]), ("Gute Nacht", ["Schlafenszeit"]),
       ("Bonne nuit", ["l'heure du coucher"]), ("Buenas noches", ["hora de dormir"])),
    # study
    _d("desk_lamp", "light", "light_full", "study", "light", None,
       ("Desk lamp", ["study lamp"]), ("Schreibtischlampe", ["Bürolampe"]),
       ("Lampe de bureau", ["lampe du bureau"]), ("Flexo", ["lámpara del escritorio"])),
    _d("printer", "plug", "plug", "study", "switch", "outlet",
       ("Printer", ["printer plug"]), ("Drucker", ["Druckersteckdose"]),
       ("Imprimante", ["prise de l'imprimante"]), ("Impresora", ["enchufe de la impresora"])),
    _d("study_speaker", "media_player", "media_player", "study", "media_player", "speaker",
       ("Study speaker", ["office speaker", "radio"]), ("Lautsprecher im Büro", ["Radio"]),
       ("Enceinte du bureau", ["radio"]), ("Altavoz del despacho", ["radio"])),
    # bathroom
    _d("bathroom_light", "light", "light_dim", "bathroom", "light", None,
       ("Bathroom light", ["mirror light"]), ("Badlicht", ["Spiegelleuchte"]),
       ("Lumière de la salle de bain", ["lumière du miroir"]), ("Luz del baño", ["luz del espejo"])),
    _d("bathroom_fan", "fan", "fan", "bathroom", "fan", None,
       ("Bathroom fan", ["exhaust fan"]), ("Badlüfter", ["Lüfter"]),
       ("Aérateur", ["ventilateur de la salle de bain"]), ("Ventilador del baño", ["extractor del baño"])),
    _d("towel_warmer", "switch", "switch", "bathroom", "switch", None,
       ("Towel warmer", ["heated towel rail"]), ("Handtuchwärmer", ["Handtuchheizung"]),
       ("Sèche-serviettes", ["radiateur sèche-serviettes"]), ("Toallero", ["calientatoallas"])),
    _d("bathroom_sensor", "sensor", "temp_humid", "bathroom", "sensor", "humidity",
       ("Bathroom sensor", ["humidity sensor"]), ("Badsensor", ["Feuchtesensor"]),
       ("Capteur de la salle de bain", ["capteur d'humidité"]), ("Sensor del baño", ["sensor de humedad"])),
]

BY_ID = {d["id"]: d for d in DEVICES}
ROOM_FLOOR = {r: f["id"] for f in FLOORS for r in f["rooms"]}


def caps(device: dict) -> list[dict]:
    return KIND_CAPS[device["caps"]]


def cap_names(device: dict) -> set[str]:
    return {c["name"] for c in caps(device) if not c.get("readonly")}


def cap(device: dict, name: str) -> dict | None:
    return next((c for c in caps(device) if c["name"] == name), None)


def writable(device: dict) -> bool:
    return any(not c.get("readonly") for c in caps(device))


def name_of(device: dict, lang: str) -> str:
    return device["names"][lang][0]


def spoken_names(item: dict, lang: str) -> list[str]:
    """The name and the aliases of a device, room or floor in a language."""
    name, aliases = item["names"][lang]
    return [name, *aliases]


# ---------------------------------------------------------------------- YAML
def _q(s: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cap_yaml(c: dict) -> str:
    parts = [f"name: {c['name']}", f"type: {c['type']}"]
    if "values" in c:
        parts.append("values: [" + ", ".join(_q(v) for v in c["values"]) + "]")
    for k in ("min", "max", "step"):
        if k in c:
            parts.append(f"{k}: {c[k]}")
    if "unit" in c:
        parts.append(f"unit: {_q(c['unit'])}")
    if c.get("readonly"):
        parts.append("readonly: true")
    return "{" + ", ".join(parts) + "}"


def home_yaml(lang: str) -> str:
    out = [
        f"# giot intent bench (issue 13): the fixture home, language `{lang}`.",
        "# Generated by bench/intents/fixture.py: edit that and rerun it, not this file.",
        "# Same device ids, capabilities and topics in every language; names, aliases,",
        "# rooms and floors as a person there would say them.",
        "",
        "floors:",
    ]
    for f in FLOORS:
        name, aliases = f["names"][lang]
        out.append(f"  - id: {f['id']}")
        out.append(f"    name: {_q(name)}")
        out.append("    aliases: [" + ", ".join(_q(a) for a in aliases) + "]")
        out.append(f"    level: {f['level']}")
        out.append("    rooms: [" + ", ".join(f["rooms"]) + "]")
    out += ["", "rooms:"]
    for r in ROOMS:
        name, aliases = r["names"][lang]
        out.append(f"  - {{id: {r['id']}, name: {_q(name)}, aliases: [" + ", ".join(_q(a) for a in aliases) + "]}")
    out += ["", "devices:"]
    room = None
    for d in DEVICES:
        if d["room"] != room:
            room = d["room"]
            out.append(f"  # {'-' * 60} {room}")
        name, aliases = d["names"][lang]
        out.append(f"  - id: {d['id']}")
        out.append(f"    name: {_q(name)}")
        if aliases:
            out.append("    aliases: [" + ", ".join(_q(a) for a in aliases) + "]")
        out.append(f"    room: {d['room']}")
        out.append(f"    kind: {d['kind']}")
        out.append(f"    state_topic: bench/{d['room']}/{d['id']}/state")
        if writable(d):
            out.append(f"    command_topic: bench/{d['room']}/{d['id']}/set")
        out.append("    capabilities:")
        for c in caps(d):
            out.append(f"      - {_cap_yaml(c)}")
        out.append("")
    return "\n".join(out)


def home_path(lang: str) -> str:
    return os.path.join(HERE, f"home.{lang}.yaml")


def write_homes() -> None:
    for lang in LANGS:
        with open(home_path(lang), "w", encoding="utf-8") as f:
            f.write(home_yaml(lang))


def strip_floors_rooms(text: str) -> str:
    """A home file without its `floors:` and `rooms:` sections: what a giot
    that predates them can load."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith(("floors:", "rooms:")):
            skipping = True
            continue
        if line.startswith("devices:"):
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    write_homes()
    print("wrote", ", ".join(home_path(lang) for lang in LANGS), file=sys.stderr)
