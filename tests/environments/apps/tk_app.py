"""A Tk app written for the desktop tests. Every event it receives is written to a JSON state file
(argv[1]) that the tests read. Widgets sit at fixed places on a 1280x800 window at +0+0 (Xvfb has
no window manager), so the tests know where to click.

Layout (x, y, width, height):
  pad      (40, 40, 400, 200)   clicks of every button, with their count (1, 2, 3)
  entry    (40, 300, 600, 40)   the text typed into it
  listbox  (700, 40, 300, 300)  200 lines; the first visible line after wheel scrolls
  hpad     (700, 400, 300, 100) horizontal wheel events (buttons 6 and 7)
  canvas   (40, 400, 600, 350)  drags: where the left button went down and up, motions between
  anim     (460, 40, 200, 100)  on a click, changes colour every 100 ms for 500 ms, ends green
  keys are recorded wherever they are pressed; the window title is "vlagent test app"
"""

from __future__ import annotations

import json
import os
import sys
import tkinter as tk

STATE: dict[str, object] = {
    "clicks": [],
    "text": "",
    "first_line": 0,
    "hwheel": [],
    "drags": [],
    "keys": [],
    "pointer": None,
    "ready": False,
}
PATH = sys.argv[1]


def save() -> None:
    tmp = PATH + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(STATE, handle, ensure_ascii=False)
    os.replace(tmp, PATH)


root = tk.Tk()
root.title("vlagent test app")
root.geometry("1280x800+0+0")
root.configure(background="#f0f0f0")

pad = tk.Label(root, text="click pad", background="#cde", font=("DejaVu Sans", 14))
pad.place(x=40, y=40, width=400, height=200)


def clicked(event: tk.Event, count: int) -> None:  # type: ignore[type-arg]
    clicks = STATE["clicks"]
    assert isinstance(clicks, list)
    clicks.append({"button": event.num, "count": count, "x": event.x_root, "y": event.y_root})
    save()


for number in (1, 2, 3):
    pad.bind(f"<ButtonPress-{number}>", lambda e: clicked(e, 1))
pad.bind("<Double-ButtonPress-1>", lambda e: clicked(e, 2))
pad.bind("<Triple-ButtonPress-1>", lambda e: clicked(e, 3))

anim = tk.Label(root, text="animate", background="#888888")
anim.place(x=460, y=40, width=200, height=100)
STEPS = ["#999999", "#aaaaaa", "#bbbbbb", "#cccccc", "#33aa33"]
anim.bind(
    "<ButtonPress-1>",
    lambda e: [
        anim.after(100 * (i + 1), lambda c=c: anim.configure(background=c))
        for i, c in enumerate(STEPS)
    ],
)

text = tk.StringVar()
entry = tk.Entry(root, textvariable=text, font=("Noto Sans CJK SC", 14))
entry.place(x=40, y=300, width=600, height=40)


def typed(*_: object) -> None:
    STATE["text"] = text.get()
    save()


text.trace_add("write", typed)

listbox = tk.Listbox(root, font=("DejaVu Sans", 12))
for i in range(200):
    listbox.insert("end", f"line {i}")
listbox.place(x=700, y=40, width=300, height=300)


def scrolled() -> None:
    first = int(listbox.nearest(0))
    if first != STATE["first_line"]:
        STATE["first_line"] = first
        save()
    root.after(50, scrolled)


hpad = tk.Label(root, text="horizontal wheel", background="#edc")
hpad.place(x=700, y=400, width=300, height=100)


def wheeled(button: int) -> None:
    events = STATE["hwheel"]
    assert isinstance(events, list)
    events.append(button)
    save()


# Tk 8.6 on X11 reports the horizontal wheel (X buttons 6 = left, 7 = right) as Shift + the
# vertical wheel buttons 4 and 5.
hpad.bind("<Shift-Button-4>", lambda e: wheeled(6))
hpad.bind("<Shift-Button-5>", lambda e: wheeled(7))

canvas = tk.Canvas(root, background="white")
canvas.place(x=40, y=400, width=600, height=350)
drag: dict[str, object] = {}


def pressed(event: tk.Event) -> None:  # type: ignore[type-arg]
    drag.clear()
    drag.update(start=[event.x_root, event.y_root], motions=0)


def moved(event: tk.Event) -> None:  # type: ignore[type-arg]
    if drag:
        drag["motions"] = int(drag["motions"]) + 1  # type: ignore[call-overload]


def released(event: tk.Event) -> None:  # type: ignore[type-arg]
    if drag:
        drags = STATE["drags"]
        assert isinstance(drags, list)
        drags.append({**drag, "end": [event.x_root, event.y_root]})
        canvas.create_line(*drag["start"], event.x_root, event.y_root)  # type: ignore[misc]
        drag.clear()
        save()


canvas.bind("<ButtonPress-1>", pressed)
canvas.bind("<B1-Motion>", moved)
canvas.bind("<ButtonRelease-1>", released)

MODIFIERS = {"Control_L", "Control_R", "Shift_L", "Shift_R", "Alt_L", "Alt_R", "Super_L", "Super_R"}


def key(event: tk.Event) -> None:  # type: ignore[type-arg]
    if event.keysym in MODIFIERS:
        return
    state = int(event.state)
    names = [name for bit, name in ((0x4, "ctrl"), (0x8, "alt"), (0x1, "shift")) if state & bit]
    keys = STATE["keys"]
    assert isinstance(keys, list)
    keys.append("+".join([*names, event.keysym]))
    save()


root.bind_all("<KeyPress>", key)


def motion(event: tk.Event) -> None:  # type: ignore[type-arg]
    STATE["pointer"] = [event.x_root, event.y_root]
    save()


root.bind_all("<Motion>", motion)


def ready() -> None:
    entry.focus_force()
    STATE["ready"] = True
    save()
    scrolled()


root.after(200, ready)
root.mainloop()
