"""A Tk window for the screen-pair corpus (make_pairs.py): a form with a clock, an entry with a
blinking insertion cursor, a list, a button and an optional dialog. It polls the command file
named by argv[1] (one JSON object: the state to show) every 50 ms and writes argv[1] + ".shown"
once the state is on screen."""

from __future__ import annotations

import json
import os
import sys
import tkinter as tk

PATH = sys.argv[1]
root = tk.Tk()
root.title("corpus form")
root.geometry("1280x800+0+0")
root.configure(background="#f0f0f0")
font = ("DejaVu Sans", 14)

clock = tk.Label(root, text="09:41:05", background="#f0f0f0", font=font)
clock.place(x=1120, y=10, width=140, height=30)
tk.Label(root, text="Name", background="#f0f0f0", font=font).place(x=40, y=80)
entry = tk.Entry(root, font=font, insertwidth=2, insertontime=600, insertofftime=300)
entry.place(x=140, y=76, width=400, height=36)
entry.insert(0, "Ada Lovelace")
listbox = tk.Listbox(root, font=font)
listbox.place(x=40, y=160, width=500, height=420)
for i in range(1, 101):
    listbox.insert("end", f"Invoice {i:03d}   due {1 + i % 28:02d}.12.2026")
button = tk.Button(root, text="Save", font=font, background="#1a73e8", foreground="#ffffff")
button.place(x=640, y=600, width=200, height=60)
dialog: tk.Frame | None = None
shown = ""


def apply(state: dict[str, object]) -> None:
    global dialog
    clock.configure(text=str(state.get("clock", "09:41:05")))
    button.configure(text=str(state.get("button", "Save")))
    listbox.yview(int(state.get("scroll", 0)))  # type: ignore[call-overload]
    if state.get("focus"):
        entry.focus_force()
        entry.icursor("end")
    if state.get("dialog") and dialog is None:
        dialog = tk.Frame(
            root, background="#ffffff", highlightthickness=2, highlightbackground="#555555"
        )
        dialog.place(x=390, y=250, width=500, height=260)
        tk.Label(dialog, text="Discard your changes?", background="#ffffff", font=font).place(
            x=30, y=40
        )
        tk.Button(dialog, text="Discard", font=font).place(x=60, y=170, width=160, height=50)
        tk.Button(dialog, text="Keep editing", font=font).place(x=260, y=170, width=180, height=50)
    elif not state.get("dialog") and dialog is not None:
        dialog.destroy()
        dialog = None


def poll() -> None:
    global shown
    try:
        with open(PATH, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        text = ""
    if text and text != shown:
        apply(json.loads(text))
        shown = text
        root.update_idletasks()
        root.after(300, lambda t=text: _mark(t))
    root.after(50, poll)


def _mark(text: str) -> None:
    if text == shown:
        with open(PATH + ".shown.tmp", "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(PATH + ".shown.tmp", PATH + ".shown")


root.after(50, poll)
root.mainloop()
