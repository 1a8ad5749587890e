"""A small Tk notes app for the plan-cache scenarios (tests/agent/test_uitest_tk_scenarios.py):
a status line, a field, a Save button and the saved notes below. ``--change KIND`` starts the app
as a new release changed it, so a cached test meets a different app:

  move      the Save button sits elsewhere (it still saves)
  rename    the Save button reads "Store" (it still saves)
  delete    the Save button reads "Delete" and clears the notes
  status    the status line reads "Failed, alice" instead of "Welcome, alice"
  modal     a dialog covers the app until its "Later" is pressed
  focus     clicking the field opens a pop-up that takes the keyboard
  steal     clicking the field gives the keyboard to the status line, with nothing shown
  dropped   saving drops the note's last letter ("Call Bo")
  crash     saving ends the app at once (exit code 3)

    python tk_notes.py STATE [--change KIND]    # an 800x600 window at +0+0

What it draws (each widget's words and box, the keyboard's owner, the notes, the buttons pressed)
is written to the JSON file STATE after every change: the scenarios' model reads the screen
through it, as the phone scenarios' model reads the virtual phone's element list.
"""

from __future__ import annotations

import argparse
import json
import os
import tkinter as tk

parser = argparse.ArgumentParser()
parser.add_argument("state")
parser.add_argument(
    "--change",
    choices=("move", "rename", "delete", "status", "modal", "focus", "steal", "dropped", "crash"),
)
args = parser.parse_args()
CHANGE = args.change

root = tk.Tk()
root.title("Notes")
root.geometry("800x600+0+0")
root.configure(background="#f8f9fa")
BOXES: dict[str, tuple[tk.Widget, tuple[int, int, int, int]]] = {}
STATE: dict[str, object] = {"notes": [], "pressed": []}


def put(name: str, widget: tk.Widget, x: int, y: int, width: int, height: int) -> tk.Widget:
    widget.place(x=x, y=y, width=width, height=height)
    BOXES[name] = (widget, (x, y, width, height))
    return widget


def save_state() -> None:
    shown = {
        name: {
            "text": str(widget.cget("text")) if "text" in widget.keys() else "",
            "box": list(box),
        }
        for name, (widget, box) in BOXES.items()
        if widget.winfo_exists() and widget.winfo_manager()
    }
    focused = root.focus_get()
    owner = next((n for n, (w, _) in BOXES.items() if w is focused), None)
    state = {**STATE, "widgets": shown, "focus": owner, "field": entry.get()}
    tmp = args.state + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(tmp, args.state)


def later() -> None:
    root.after(10, save_state)  # after idle: the widgets placed or forgotten by now


FONT = ("DejaVu Sans", 16)
put(
    "title",
    tk.Label(root, text="Notes", background="#f8f9fa", font=("DejaVu Sans", 20)),
    40,
    16,
    200,
    40,
)
status = "Failed, alice" if CHANGE == "status" else "Welcome, alice"
put(
    "status",
    tk.Label(root, text=status, background="#f8f9fa", font=FONT, anchor="w"),
    40,
    60,
    400,
    36,
)
# No blinking caret: a cached step is matched against a screenshot, and a blink changes one.
entry = tk.Entry(
    root, font=FONT, background="#ffffff", relief="solid", borderwidth=1, insertofftime=0
)
put("field", entry, 40, 110, 480, 44)


def focused(colour: str) -> None:
    entry.configure(background=colour)
    later()


entry.bind("<FocusIn>", lambda _: focused("#e3f2fd"))
entry.bind("<FocusOut>", lambda _: focused("#ffffff"))
entry.bind("<KeyRelease>", lambda _: later())


def pressed(name: str) -> None:
    buttons = STATE["pressed"]
    assert isinstance(buttons, list)
    buttons.append(name)


def save() -> None:
    pressed(button.cget("text"))
    if CHANGE == "crash":
        os._exit(3)
    text = entry.get().strip()
    notes = STATE["notes"]
    assert isinstance(notes, list)
    if text:
        notes.append(text[:-1] if CHANGE == "dropped" else text)
        row = tk.Label(root, text=notes[-1], anchor="w", background="#fff8e1", font=FONT, padx=12)
        put(f"note_{len(notes) - 1}", row, 40, 180 + 56 * (len(notes) - 1), 720, 44)
        entry.delete(0, "end")
    later()


def delete() -> None:
    pressed("Delete")
    STATE["notes"] = []
    for name in [n for n in BOXES if n.startswith("note_")]:
        BOXES.pop(name)[0].destroy()
    later()


label = {"rename": "Store", "delete": "Delete"}.get(CHANGE or "", "Save")
button = tk.Button(
    root,
    text=label,
    command=delete if CHANGE == "delete" else save,
    background="#1a73e8",
    activebackground="#1a73e8",
    foreground="white",
    font=FONT,
    relief="flat",
)
put("save", button, *((540, 520) if CHANGE == "move" else (540, 110)), 140, 44)


def dismiss() -> None:
    pressed("Later")
    for name in ("scrim", "dialog", "later"):
        BOXES[name][0].place_forget()
    later()


if CHANGE == "modal":  # a scrim takes every click but the dialog's
    put("scrim", tk.Frame(root, background="#9e9e9e"), 0, 0, 800, 600)
    put("dialog", tk.Label(root, text="A new version is out", font=FONT), 200, 220, 400, 80)
    put("later", tk.Button(root, text="Later", command=dismiss, font=FONT), 340, 310, 120, 44)


def steal(_: object) -> None:
    if "popup" not in BOXES:
        notice = tk.Label(root, text="Update available", background="#fce8e6", font=FONT)
        put("popup", notice, 200, 400, 400, 60)
    root.after(50, take, BOXES["popup"][0])


def take(widget: tk.Widget) -> None:
    widget.focus_force()
    later()


if CHANGE == "focus":
    entry.bind("<FocusIn>", steal, add="+")
if CHANGE == "steal":  # no pop-up: only the field's focus colour comes and goes
    entry.bind("<FocusIn>", lambda _: root.after(50, take, BOXES["status"][0]), add="+")
root.after(200, later)
root.mainloop()
