"""Hand-written sentences of issue 13's bench, of the kinds Home Assistant's
templates do not contain: writes tests/eval/templates/handwritten.jsonl.

Each line: {"goal", "status", "actions", "category", "language"}; expected
results are on the fixture home of the sentence's language (the device ids
are the same in every language). Categories: exclusion, indirect, typo,
question, number_words, extremes, ambiguity, unknown, media, vacuum, floor.

Conventions (DESIGN.md §3): "N%" maps linearly onto the range; "half" 50%,
"three quarters" 75%, "a quarter" 25%; minimum brightness is 1 (the lowest
*on* level, as HA's brightness_level says), other minimums/maximums are the
range's ends; "fully/completely" is the end the verb points to; "all the
lights" means every light (the garden's too); a group acts on its members
that have the capability; questions are answered and never act; a name or
phrase that fits several devices needs clarification; a goal naming nothing
in the registry is refused. Relative changes ("volume up", "a bit brighter")
are left out: their expected value depends on the simulator's state at that
moment, which an evaluation file cannot state.

usage: python handwritten.py       (deterministic: no randomness)
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import fixture as fx  # noqa: E402

ROWS: list[dict] = []


def devs(kind=None, room=None, floor=None, cap=None, domain=None, device_class=None, but=()):
    out = []
    for d in fx.DEVICES:
        if kind and d["kind"] != kind:
            continue
        if domain and d["domain"] != domain:
            continue
        if device_class and d["device_class"] != device_class:
            continue
        if room and d["room"] != room:
            continue
        if floor and fx.ROOM_FLOOR.get(d["room"]) != floor:
            continue
        if cap and cap not in fx.cap_names(d):
            continue
        if d["id"] in but:
            continue
        out.append(d["id"])
    return out


def set_(ids, cap, value):
    ids = [ids] if isinstance(ids, str) else ids
    return [[i, cap, value] for i in ids]


def add(category, goal, status, actions=(), lang="en"):
    ROWS.append({"goal": goal, "status": status, "actions": sorted(list(actions), key=str),
                 "category": category, "language": lang})


def do(category, goal, actions, lang="en"):
    add(category, goal, "executed", actions, lang)


def ask(goal, lang="en", category="question"):
    add(category, goal, "answered", (), lang)


def unclear(goal, lang="en"):
    add("ambiguity", goal, "needs_clarification", (), lang)


def unknown(goal, lang="en"):
    add("unknown", goal, "refused", (), lang)


LIGHTS = devs(kind="light")
DOWN_LIGHTS = devs(kind="light", floor="ground_floor")
UP_LIGHTS = devs(kind="light", floor="upstairs")


def english():
    X = "exclusion"
    do(X, "turn off every light but the hall light", set_(devs(kind="light", but=["hall_light"]), "power", "off"))
    do(X, "close all the blinds except the bedroom's", set_("living_blinds", "position", 0))
    do(X, "switch off the bedroom lights except the left bedside lamp",
       set_(["bedroom_ceiling_light", "bedside_right"], "power", "off"))
    do(X, "turn on all the living room lights apart from the LED strip",
       set_(["living_ceiling_light", "floor_lamp"], "power", "on"))
    do(X, "lock every door except the side door", set_("front_door", "lock", "locked"))
    do(X, "all the fans off, except the one in the bathroom", set_(["extractor_fan", "bedroom_fan"], "power", "off"))
    do(X, "dim all the downstairs lights to 30% but not the kitchen light",
       set_(devs(kind="light", floor="ground_floor", cap="brightness", but=["kitchen_light"]), "brightness", 30))
    do(X, "turn off the upstairs lights but leave the desk lamp on",
       set_(devs(kind="light", floor="upstairs", but=["desk_lamp"]), "power", "off"))
    do(X, "open every cover apart from the garage door", set_(["living_blinds", "bedroom_blinds"], "position", 100))
    do(X, "in the living room, switch on everything that lights up other than the big light",
       set_(["floor_lamp", "led_strip"], "power", "on"))
    do(X, "lights off everywhere except the study", set_(devs(kind="light", but=["desk_lamp"]), "power", "off"))
    do(X, "turn off every plug except the printer", set_("coffee_machine", "power", "off"))
    do(X, "kitchen lights on, but not the counter lights", set_(["kitchen_light", "pendant_lamp"], "power", "on"))

    I = "indirect"
    do(I, "it's too dark in the study", set_("desk_lamp", "power", "on"))
    do(I, "the bathroom is really stuffy", set_("bathroom_fan", "power", "on"))
    do(I, "I can't see a thing in the garage", set_("garage_light", "power", "on"))
    do(I, "something's burning on the stove, clear the air in the kitchen", set_("extractor_fan", "power", "on"))
    do(I, "my towels are cold", set_("towel_warmer", "power", "on"))
    do(I, "the lawn looks really dry", set_("sprinkler", "power", "on"))
    do(I, "I could really use a coffee right now", set_("coffee_machine", "power", "on"))
    do(I, "I need to print my boarding pass", set_("printer", "power", "on"))
    do(I, "the floors are covered in crumbs", set_("robot_vacuum", "state", "cleaning"))
    do(I, "it's pitch black out on the patio", set_("garden_lights", "power", "on"))

    T = "typo"
    do(T, "trun on the hallway ligth", set_("hall_light", "power", "on"))
    do(T, "swich off the kitchn light", set_("kitchen_light", "power", "off"))
    do(T, "opne the garage door", set_("garage_door", "position", 100))
    do(T, "lock the frnt door", set_("front_door", "lock", "locked"))
    do(T, "turn of the bedroom fan", set_("bedroom_fan", "power", "off"))
    do(T, "set the livingroom thermostat to 22 degrees", set_("living_thermostat", "target_temperature", 22))
    do(T, "dim the desk lamp too 40 percent", set_("desk_lamp", "brightness", 40))
    do(T, "turn on the coffee machien", set_("coffee_machine", "power", "on"))
    do(T, "close the bed room blinds", set_("bedroom_blinds", "position", 0))
    do(T, "turn the towel warmer of", set_("towel_warmer", "power", "off"))
    do(T, "start the robot vacume", set_("robot_vacuum", "state", "cleaning"))
    do(T, "pause the tee vee", set_("tv", "playback", "paused"))
    do(T, "switch on the flor lamp", set_("floor_lamp", "power", "on"))
    do(T, "turn on the garden lites", set_("garden_lights", "power", "on"))
    do(T, "unlock the side dore", set_("side_door", "lock", "unlocked"))
    do(T, "turn off the bath room fan", set_("bathroom_fan", "power", "off"))

    ask("could you check whether the kitchen light is on")
    ask("please, are any lights on")
    ask("I wonder if the garage door is open")
    ask("how many lights are on")
    ask("which doors are unlocked")
    ask("is it warm in the bathroom right now?")
    ask("what's the humidity in the bathroom")
    ask("tell me if the front door is locked")
    ask("do I have any lights on upstairs")
    ask("what temperature is the bedroom thermostat set to")
    ask("is the coffee machine still on?")
    ask("what's the volume on the TV at")
    ask("hey, is the kitchen window open or shut")
    ask("how cold is it outside")
    ask("any idea whether the sprinkler is running")
    ask("are the living room blinds closed")
    ask("before I go to bed: is the side door locked?")

    N = "number_words"
    do(N, "dim the hall light to thirty percent", set_("hall_light", "brightness", 30))
    do(N, "set the bedroom thermostat to twenty one degrees", set_("bedroom_thermostat", "target_temperature", 21))
    do(N, "open the living room blinds three quarters of the way", set_("living_blinds", "position", 75))
    do(N, "kitchen light at half brightness please", set_("kitchen_light", "brightness", 50))
    do(N, "put the bedroom fan on half speed", set_("bedroom_fan", "speed", 50))
    do(N, "turn the TV volume to twenty-five", set_("tv", "volume", 25))
    do(N, "set the desk lamp to seventy five percent", set_("desk_lamp", "brightness", 75))
    do(N, "raise the bedroom blinds a quarter of the way", set_("bedroom_blinds", "position", 25))
    do(N, "make it nineteen and a half degrees in the living room",
       set_("living_thermostat", "target_temperature", 19.5))
    do(N, "floor lamp brightness one hundred percent", set_("floor_lamp", "brightness", 100))
    do(N, "set the extractor fan to forty percent", set_("extractor_fan", "speed", 40))
    do(N, "open the garage door halfway", set_("garage_door", "position", 50))
    do(N, "study speaker volume fifteen percent", set_("study_speaker", "volume", 15))
    do(N, "change the desk lamp's colour temperature to four thousand kelvin", set_("desk_lamp", "color_temp", 4000))

    E = "extremes"
    do(E, "set the floor lamp to minimum brightness", set_("floor_lamp", "brightness", 1))
    do(E, "turn the desk lamp down to its lowest setting", set_("desk_lamp", "brightness", 1))
    do(E, "maximum brightness on the kitchen light", set_("kitchen_light", "brightness", 100))
    do(E, "turn the TV volume all the way up", set_("tv", "volume", 100))
    do(E, "bathroom fan at full speed", set_("bathroom_fan", "speed", 100))
    do(E, "open the bedroom blinds fully", set_("bedroom_blinds", "position", 100))
    do(E, "close the living room blinds completely", set_("living_blinds", "position", 0))
    do(E, "set the bedroom thermostat as low as it goes", set_("bedroom_thermostat", "target_temperature", 5))
    do(E, "crank the living room heating up to the max", set_("living_thermostat", "target_temperature", 30))
    do(E, "make the hall light the warmest white it can do", set_("hall_light", "color_temp", 2000))
    do(E, "coolest colour temperature on the desk lamp", set_("desk_lamp", "color_temp", 6500))
    do(E, "turn the study speaker all the way down", set_("study_speaker", "volume", 0))

    unclear("lock the door")
    unclear("turn on the light")
    unclear("switch on the ceiling light")
    unclear("turn the fan on")
    unclear("set the thermostat to 21")
    unclear("turn on the bedside lamp")
    unclear("open the blind")
    unclear("turn off the lamp")
    unclear("set the volume to 20")
    unclear("pause the music")

    unknown("turn on the attic fan")
    unknown("open the pool cover")
    unknown("start the dishwasher")
    unknown("start mowing the lawn")
    unknown("lock the back gate")
    unknown("turn off the basement lights")
    unknown("preheat the oven to 180 degrees")
    unknown("switch on the hot tub")
    unknown("close the skylight")
    unknown("turn on the christmas tree")
    unknown("arm the alarm system")
    unknown("dim the nursery lamp to 10 percent")

    M = "media"
    do(M, "mute the TV", set_("tv", "muted", True))
    do(M, "unmute the television", set_("tv", "muted", False))
    do(M, "skip this song on the study speaker", set_("study_speaker", "skip", "next"))
    do(M, "play the previous track on the radio", set_("study_speaker", "skip", "previous"))
    do(M, "pause the TV for a second", set_("tv", "playback", "paused"))
    do(M, "resume the music in the study", set_("study_speaker", "playback", "playing"))
    do(M, "TV volume to 40", set_("tv", "volume", 40))
    do(M, "silence the telly in the living room", set_("tv", "muted", True))
    do(M, "next track in the office", set_("study_speaker", "skip", "next"))
    do(M, "switch the TV off", set_("tv", "power", "off"))
    do(M, "go back one song in the living room", set_("tv", "skip", "previous"))
    do(M, "carry on playing on the television", set_("tv", "playback", "playing"))

    V = "vacuum"
    do(V, "send the vacuum back to its dock", set_("robot_vacuum", "state", "returning"))
    do(V, "start vacuuming", set_("robot_vacuum", "state", "cleaning"))
    do(V, "tell Robbie to get cleaning", set_("robot_vacuum", "state", "cleaning"))
    do(V, "pause the robot vacuum", set_("robot_vacuum", "state", "paused"))
    do(V, "the vacuum should go home now", set_("robot_vacuum", "state", "returning"))
    do(V, "hoover the house", set_("robot_vacuum", "state", "cleaning"))

    F = "floor"
    do(F, "turn off the lights upstairs", set_(UP_LIGHTS, "power", "off"))
    do(F, "switch on the first floor lights", set_(UP_LIGHTS, "power", "on"))
    do(F, "turn on all the downstairs lights", set_(DOWN_LIGHTS, "power", "on"))
    do(F, "close every blind on the ground floor", set_("living_blinds", "position", 0))
    do(F, "set the heating upstairs to 20 degrees", set_("bedroom_thermostat", "target_temperature", 20))
    do(F, "turn off all the fans upstairs", set_(["bedroom_fan", "bathroom_fan"], "power", "off"))
    do(F, "dim every light on the upper floor to 20%",
       set_(devs(kind="light", floor="upstairs", cap="brightness"), "brightness", 20))
    do(F, "lights out downstairs", set_(DOWN_LIGHTS, "power", "off"))
    do(F, "open the blinds upstairs", set_("bedroom_blinds", "position", 100))
    do(F, "ground floor lights to 60 percent",
       set_(devs(kind="light", floor="ground_floor", cap="brightness"), "brightness", 60))


def german():
    L = "de"
    do("exclusion", "schalte alle Lichter aus außer dem Flurlicht",
       set_(devs(kind="light", but=["hall_light"]), "power", "off"), L)
    do("exclusion", "mach im Schlafzimmer alle Lampen an, nur die Deckenlampe nicht",
       set_(["bedside_left", "bedside_right"], "power", "on"), L)
    do("indirect", "im Arbeitszimmer ist es zu dunkel", set_("desk_lamp", "power", "on"), L)
    do("indirect", "in der Garage sieht man nichts", set_("garage_light", "power", "on"), L)
    do("typo", "schalte das Flurlich ein", set_("hall_light", "power", "on"), L)
    do("typo", "mach die Kaffemaschine an", set_("coffee_machine", "power", "on"), L)
    ask("kannst du nachsehen, ob die Haustür abgeschlossen ist", L)
    ask("wie viele Lichter sind an", L)
    ask("sag mal, ist das Küchenfenster offen?", L)
    do("number_words", "dimme das Flurlicht auf dreißig Prozent", set_("hall_light", "brightness", 30), L)
    do("number_words", "stell das Schlafzimmerthermostat auf einundzwanzig Grad",
       set_("bedroom_thermostat", "target_temperature", 21), L)
    do("number_words", "öffne das Wohnzimmerrollo zur Hälfte", set_("living_blinds", "position", 50), L)
    do("extremes", "Stehlampe auf minimale Helligkeit", set_("floor_lamp", "brightness", 1), L)
    do("extremes", "Garagentor ganz aufmachen", set_("garage_door", "position", 100), L)
    unclear("schließ die Tür ab", L)
    unclear("mach das Licht an", L)
    unknown("schalte den Dachbodenventilator ein", L)
    unknown("öffne die Poolabdeckung", L)
    do("media", "Fernseher stumm schalten", set_("tv", "muted", True), L)
    do("vacuum", "schick den Saugroboter zurück zur Ladestation", set_("robot_vacuum", "state", "returning"), L)
    do("floor", "mach oben alle Lichter aus", set_(UP_LIGHTS, "power", "off"), L)
    do("floor", "im Erdgeschoss alle Lampen einschalten", set_(DOWN_LIGHTS, "power", "on"), L)


def french():
    L = "fr"
    do("exclusion", "éteins toutes les lumières sauf la lumière du couloir",
       set_(devs(kind="light", but=["hall_light"]), "power", "off"), L)
    do("exclusion", "ferme tous les stores sauf celui de la chambre", set_("living_blinds", "position", 0), L)
    do("indirect", "il fait trop sombre dans le bureau", set_("desk_lamp", "power", "on"), L)
    do("indirect", "j'ai besoin d'un café", set_("coffee_machine", "power", "on"), L)
    do("typo", "allume le lampadère", set_("floor_lamp", "power", "on"), L)
    do("typo", "ferme la porte du garrage", set_("garage_door", "position", 0), L)
    ask("peux-tu vérifier si la porte d'entrée est verrouillée", L)
    ask("combien de lumières sont allumées", L)
    ask("est-ce que la fenêtre de la cuisine est ouverte ?", L)
    do("number_words", "règle la lumière du couloir à trente pour cent", set_("hall_light", "brightness", 30), L)
    do("number_words", "mets le thermostat de la chambre à vingt et un degrés",
       set_("bedroom_thermostat", "target_temperature", 21), L)
    do("number_words", "ouvre le store du salon à moitié", set_("living_blinds", "position", 50), L)
    do("extremes", "mets le lampadaire à la luminosité minimale", set_("floor_lamp", "brightness", 1), L)
    do("extremes", "monte le volume de la télé au maximum", set_("tv", "volume", 100), L)
    unclear("verrouille la porte", L)
    unclear("allume la lumière", L)
    unknown("allume le ventilateur du grenier", L)
    unknown("ouvre la bâche de la piscine", L)
    do("media", "coupe le son de la télé", set_("tv", "muted", True), L)
    do("vacuum", "renvoie l'aspirateur à sa base", set_("robot_vacuum", "state", "returning"), L)
    do("floor", "éteins les lumières en haut", set_(UP_LIGHTS, "power", "off"), L)
    do("floor", "allume toutes les lumières du rez-de-chaussée", set_(DOWN_LIGHTS, "power", "on"), L)


def spanish():
    L = "es"
    do("exclusion", "apaga todas las luces menos la del pasillo",
       set_(devs(kind="light", but=["hall_light"]), "power", "off"), L)
    do("exclusion", "enciende las luces del salón excepto la tira LED",
       set_(["living_ceiling_light", "floor_lamp"], "power", "on"), L)
    do("indirect", "está muy oscuro en el despacho", set_("desk_lamp", "power", "on"), L)
    do("indirect", "el césped está muy seco", set_("sprinkler", "power", "on"), L)
    do("typo", "enciende la luz del pasiyo", set_("hall_light", "power", "on"), L)
    do("typo", "apaga la cafetra", set_("coffee_machine", "power", "off"), L)
    ask("¿puedes comprobar si la puerta principal está cerrada con llave?", L)
    ask("cuántas luces están encendidas", L)
    ask("oye, ¿está abierta la ventana de la cocina?", L)
    do("number_words", "pon la luz del pasillo al treinta por ciento", set_("hall_light", "brightness", 30), L)
    do("number_words", "pon el termostato del dormitorio a veintiún grados",
       set_("bedroom_thermostat", "target_temperature", 21), L)
    do("number_words", "abre la persiana del salón hasta la mitad", set_("living_blinds", "position", 50), L)
    do("extremes", "pon la lámpara de pie al mínimo de brillo", set_("floor_lamp", "brightness", 1), L)
    do("extremes", "abre del todo la puerta del garaje", set_("garage_door", "position", 100), L)
    unclear("cierra la puerta con llave", L)
    unclear("enciende la luz", L)
    unknown("enciende el ventilador del ático", L)
    unknown("abre la cubierta de la piscina", L)
    do("media", "silencia la tele", set_("tv", "muted", True), L)
    do("vacuum", "manda el robot aspirador a su base", set_("robot_vacuum", "state", "returning"), L)
    do("floor", "apaga las luces de arriba", set_(UP_LIGHTS, "power", "off"), L)
    do("floor", "enciende todas las luces de la planta baja", set_(DOWN_LIGHTS, "power", "on"), L)


def build() -> list[dict]:
    ROWS.clear()
    english()
    german()
    french()
    spanish()
    return list(ROWS)


def write(path: str | None = None) -> str:
    path = path or os.path.join(common.EVAL_DIR, "handwritten.jsonl")
    common.write_jsonl(path, build())
    return path


if __name__ == "__main__":
    rows = build()
    p = write()
    from collections import Counter
    print(f"{len(rows)} sentences -> {os.path.relpath(p, common.REPO)}", file=sys.stderr)
    print(dict(Counter((r["language"]) for r in rows)), dict(Counter(r["category"] for r in rows if r["language"] == "en")),
          file=sys.stderr)
