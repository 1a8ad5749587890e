"""The app under test in the desktop examples: a shopping list in Tk. Type an item into the field,
press Add (or Enter), and it joins the list below; a count line says how many there are.

    python shopping_list.py        # an 800x600 window at the top left of the display
"""

import tkinter as tk

FIELD = "#ffffff"
FIELD_FOCUSED = "#e3f2fd"
ADD = "#1a73e8"
ITEM = "#fff8e1"

root = tk.Tk()
root.title("Shopping list")
root.geometry("800x600+0+0")
root.configure(background="#f8f9fa")

tk.Label(root, text="Shopping list", background="#f8f9fa", font=("DejaVu Sans", 20)).place(
    x=40, y=24
)
# No blinking caret: a test compares screenshots, and a caret that blinks changes one.
entry = tk.Entry(
    root, font=("DejaVu Sans", 16), background=FIELD, relief="solid", borderwidth=1, insertofftime=0
)
entry.place(x=40, y=90, width=560, height=44)
entry.bind("<FocusIn>", lambda _: entry.configure(background=FIELD_FOCUSED))
entry.bind("<FocusOut>", lambda _: entry.configure(background=FIELD))

count = tk.Label(root, text="No items", background="#f8f9fa", font=("DejaVu Sans", 14))
count.place(x=40, y=150)
rows: list[tk.Label] = []


def add(_: object = None) -> None:
    text = entry.get().strip()
    if not text:
        return
    row = tk.Label(root, text=text, anchor="w", background=ITEM, font=("DejaVu Sans", 16), padx=12)
    row.place(x=40, y=196 + 56 * len(rows), width=720, height=44)
    rows.append(row)
    entry.delete(0, "end")
    count.configure(text=f"{len(rows)} item" + ("s" if len(rows) > 1 else ""))


tk.Button(
    root,
    text="Add",
    command=add,
    background=ADD,
    activebackground=ADD,
    foreground="white",
    font=("DejaVu Sans", 16),
    relief="flat",
).place(x=620, y=90, width=140, height=44)
entry.bind("<Return>", add)
root.mainloop()
