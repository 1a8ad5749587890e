"""Make the screen-pair corpus: real screenshots of the virtual phone (through the real adb
server), a Tk window and Chromium (both on a private Xvfb), in pairs labelled "same" (the screen a
recording expects, give or take a clock tick, a blinking cursor, a notification dot or rendering
noise) or "different" (another app, a dialog, a scrolled list, other text where the action will
touch). Each pair may carry the point the recorded action touches (normalized 0..1).

    python tests/data/screen-pairs/make_pairs.py      # rewrites the PNGs and pairs.json here

Needs Xvfb and chromium (apt-get install xvfb chromium). The labels are ours, written from what
each pair shows; the pixels are the programs' own.
"""

from __future__ import annotations

import datetime as real_datetime
import io
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from vlagent.environments.android import VIRTUAL, AndroidEnvironment  # noqa: E402
from vlagent.environments.desktop import DesktopEnvironment  # noqa: E402
from vlagent.environments.virtual_android import phone as phone_module  # noqa: E402

PAIRS: list[dict[str, Any]] = []
SAVED: dict[bytes, str] = {}


def save(name: str, image: Image.Image) -> str:
    """Write ``image`` as NAME.png unless the same pixels are already saved; the file's name."""
    key = image.convert("RGB").tobytes()
    if key in SAVED:
        return SAVED[key]
    file = f"{name}.png"
    image.convert("RGB").save(HERE / file, optimize=True)
    SAVED[key] = file
    return file


def pair(
    name: str,
    a: Image.Image,
    b: Image.Image,
    expect: str,
    what: str,
    target: tuple[float, float] | None,
    source: str,
) -> None:
    assert expect in ("same", "different")
    if expect == "same":
        assert (
            ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is not None
            or "identical" in what
        ), f"{name}: the two screens are identical"
    PAIRS.append(
        {
            "name": name,
            "a": save(f"{name}-a", a),
            "b": save(f"{name}-b", b),
            "expect": expect,
            "what": what,
            "target": None if target is None else [round(v, 4) for v in target],
            "source": source,
        }
    )


# -- the virtual phone, through the real adb server -----------------------------------------------


class _Clock:
    """Stands in for the phone module's ``datetime`` so the status-bar clock shows a chosen time."""

    def __init__(self) -> None:
        self.now = real_datetime.datetime(2026, 11, 23, 9, 41)

    @property
    def datetime(self) -> Any:
        clock = self

        class _Fixed(real_datetime.datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return clock.now

        return _Fixed


def phone_pairs() -> None:
    clock = _Clock()
    phone_module.datetime = clock  # type: ignore[assignment]
    env = AndroidEnvironment(serial=VIRTUAL)
    phone = env.embedded.device.phone  # type: ignore[union-attr]
    w, h = phone.width, phone.height

    def centre(resource_id: str) -> tuple[float, float]:
        left, top, right, bottom = next(
            e.bounds for e in phone.elements() if e.resource_id == resource_id
        )
        return ((left + right) / 2 / w, (top + bottom) / 2 / h)

    def shot() -> Image.Image:
        return env.observe().image

    source = "virtual phone (environments/virtual_android) via adb exec-out screencap"
    home = shot()
    notes_icon = centre("com.android.launcher:id/app_notes")
    clock.now = clock.now.replace(minute=42)
    pair("phone-clock", home, shot(), "same", "status-bar clock 09:41 -> 09:42", notes_icon, source)
    clock.now = clock.now.replace(minute=41)

    phone.start("com.vlagent.notes")
    notes = shot()
    field, save_button = centre("com.vlagent.notes:id/note"), centre("com.vlagent.notes:id/save")
    pair(
        "phone-other-app",
        notes,
        home,
        "different",
        "Notes expected, the home screen is shown",
        field,
        source,
    )
    pair(
        "phone-other-app-no-target",
        notes,
        home,
        "different",
        "Notes expected, the home screen is shown (no target point)",
        None,
        source,
    )
    buffer = io.BytesIO()
    notes.convert("RGB").save(buffer, "JPEG", quality=85)
    pair(
        "phone-jpeg-noise",
        notes,
        Image.open(buffer).convert("RGB"),
        "same",
        "the same screen after JPEG compression (quality 85)",
        save_button,
        source,
    )

    phone.notes = ["Buy milk & eggs"]
    with_note = shot()
    note_row = centre("com.vlagent.notes:id/saved_0")
    phone.notes = ["Call the plumber"]
    other_note = shot()
    pair(
        "phone-text-at-target",
        with_note,
        other_note,
        "different",
        "the saved note about to be long-pressed reads otherwise",
        note_row,
        source,
    )
    pair(
        "phone-text-away-from-target",
        with_note,
        other_note,
        "same",
        "a saved note reads otherwise, the action taps Save",
        save_button,
        source,
    )
    phone.notes = []

    clock.now = clock.now.replace(minute=59, hour=9)
    later = shot()
    clock.now = clock.now.replace(hour=10, minute=0)
    pair(
        "phone-clock-notes",
        later,
        shot(),
        "same",
        "status-bar clock 09:59 -> 10:00 in Notes",
        save_button,
        source,
    )
    clock.now = clock.now.replace(hour=9, minute=41)

    phone.toggles["Dark theme"] = True
    pair(
        "phone-dark-theme",
        notes,
        shot(),
        "different",
        "Notes in the dark theme",
        save_button,
        source,
    )
    phone.toggles["Dark theme"] = False

    phone.start("com.android.settings")
    settings = shot()
    wifi = centre("com.android.settings:id/item_0")
    phone.scroll = phone.row * 3
    pair(
        "phone-settings-scrolled",
        settings,
        shot(),
        "different",
        "the Settings list scrolled by three rows",
        wifi,
        source,
    )
    phone.scroll = 0
    pair(
        "phone-settings-vs-notes",
        settings,
        notes,
        "different",
        "Settings expected, Notes shown",
        wifi,
        source,
    )
    env.close()


# -- desktop programs on a private Xvfb ------------------------------------------------------------


def until_shown(
    env: DesktopEnvironment, ready: Callable[[], bool], settle: float = 0.4
) -> Image.Image:
    deadline = time.monotonic() + 30
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError("the program did not show the state in 30 s")
        time.sleep(0.05)
    time.sleep(settle)
    return env.observe().image


def blink_pair(env: DesktopEnvironment) -> tuple[Image.Image, Image.Image, tuple[float, float]]:
    """Two shots of one screen whose only change is a blinking cursor, and where the cursor is
    (normalized): the action of the pair clicks right on it."""
    first = env.observe().image
    for _ in range(60):
        time.sleep(0.13)
        later = env.observe().image
        box = ImageChops.difference(first.convert("RGB"), later.convert("RGB")).getbbox()
        if box:
            return (
                first,
                later,
                ((box[0] + box[2]) / 2 / first.width, (box[1] + box[3]) / 2 / first.height),
            )
    raise RuntimeError("the cursor did not blink")


def tk_pairs(folder: Path) -> None:
    state = folder / "state.json"
    source = "Tk 8.6 (tests/data/screen-pairs/tk_screens.py) on Xvfb, captured with mss"
    env = DesktopEnvironment(
        xvfb="1280x800", launch=f"{sys.executable} {HERE / 'tk_screens.py'} {state}"
    )
    serial = [0]

    def show(**values: Any) -> Image.Image:
        serial[0] += 1
        text = json.dumps({**values, "n": serial[0]})
        state.write_text(text)
        shown = Path(str(state) + ".shown")
        return until_shown(env, lambda: shown.exists() and shown.read_text() == text)

    try:
        base = show()
        w, h = 1280, 800
        button = ((640 + 100) / w, (600 + 30) / h)
        invoice = ((40 + 150) / w, (160 + 60) / h)
        pair(
            "tk-clock",
            base,
            show(clock="09:41:06"),
            "same",
            "a clock label ticks a second",
            button,
            source,
        )
        pair(
            "tk-dialog",
            base,
            show(dialog=True),
            "different",
            "a dialog opened mid-window (the target row is beside it)",
            invoice,
            source,
        )
        pair(
            "tk-dialog-no-target",
            base,
            show(dialog=True, n2=1),
            "different",
            "a dialog appeared (no target)",
            None,
            source,
        )
        pair(
            "tk-list-scrolled",
            base,
            show(scroll=4),
            "different",
            "the list scrolled by four lines",
            invoice,
            source,
        )
        pair(
            "tk-button-text",
            base,
            show(button="Delete"),
            "different",
            "the button about to be clicked reads Delete instead of Save",
            button,
            source,
        )
        show(focus=True)
        on, off, cursor = blink_pair(env)
        pair(
            "tk-cursor-blink",
            on,
            off,
            "same",
            "the entry's insertion cursor blinks; the action clicks on it",
            cursor,
            source,
        )
    finally:
        env.close()


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Mail</title><style>
body{margin:0;font:16px 'DejaVu Sans',sans-serif;background:#fff;color:#202124}
header{height:56px;background:#f1f3f4;display:flex;align-items:center;padding:0 24px}
#clock{margin-left:auto} .icon{position:relative;width:36px;height:36px;border-radius:8px;background:#1a73e8;margin-right:16px}
.dot{position:absolute;right:-4px;top:-4px;width:12px;height:12px;border-radius:6px;background:#d93025;display:none}
#list{position:absolute;left:24px;top:80px;width:560px;height:640px;overflow:hidden;border:1px solid #dadce0}
.row{height:56px;border-bottom:1px solid #eee;padding:8px 16px;box-sizing:border-box}
.row b{display:block} #side{position:absolute;left:640px;top:80px;width:600px}
input{font:18px 'DejaVu Sans',sans-serif;width:400px;height:36px;padding:0 8px;border:1px solid #888}
button{font:18px 'DejaVu Sans',sans-serif;margin-top:24px;width:200px;height:48px;background:#188038;color:#fff;border:0}
p{line-height:1.5} dialog{border:1px solid #888;width:420px} .shift{transform:translate(0.4px,0.3px)}
</style></head><body><header><div class="icon"><div class="dot" id="dot"></div></div><b>Mail</b>
<span id="clock">09:41</span></header><div id="list"></div><div id="side">
<p id="body">Dear Ada, the invoice for November is attached. Please check the amounts and pay
before the end of the month. The totals include the service fee and the tax of 19 percent.</p>
<input id="search" value="invoice"><br><button id="pay">Pay $10</button></div>
<dialog id="dialog"><p>Leave this page? Your draft will be lost.</p><button>Leave</button></dialog>
<script>
const list=document.getElementById('list');
for(let i=1;i<=40;i++){const r=document.createElement('div');r.className='row';
r.innerHTML='<b>Invoice '+i+'</b>from billing@example.com';list.appendChild(r);}
let seen='';
async function poll(){try{const s=await (await fetch('/state')).json();const key=JSON.stringify(s);
if(key!==seen){seen=key;document.getElementById('clock').textContent=s.clock||'09:41';
document.getElementById('dot').style.display=s.dot?'block':'none';
document.getElementById('pay').textContent=s.pay||'Pay $10';list.scrollTop=s.scroll||0;
document.getElementById('side').className=s.shift?'shift':'';
const d=document.getElementById('dialog');if(s.dialog&&!d.open)d.showModal();if(!s.dialog&&d.open)d.close();
if(s.focus)document.getElementById('search').focus();
requestAnimationFrame(()=>requestAnimationFrame(()=>fetch('/shown',{method:'POST',body:key})));}}
catch(e){} setTimeout(poll,50);} poll();
</script></body></html>"""


def web_pairs(folder: Path) -> None:
    state: dict[str, Any] = {"value": {}, "shown": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (PAGE if self.path == "/" else json.dumps(state["value"])).encode()
            self.send_response(200)
            self.send_header(
                "Content-Type",
                "text/html; charset=utf-8" if self.path == "/" else "application/json",
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            state["shown"] = self.rfile.read(int(self.headers["Content-Length"])).decode()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "apt-get install chromium"
    flags = (
        "--no-sandbox --disable-gpu --no-first-run --disable-background-networking "
        "--disable-component-update --disable-sync --test-type --window-position=0,0 "
        f"--window-size=1280,800 --force-device-scale-factor=1 --user-data-dir={folder / 'profile'}"
    )
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    env = DesktopEnvironment(xvfb="1280x800", launch=f"{chromium} {flags} --app={url}")
    source = "Chromium (Debian package) on Xvfb, a local page, captured with mss"

    def show(**values: Any) -> Image.Image:
        state["value"] = values
        key = json.dumps(values, separators=(",", ":"))
        return until_shown(
            env, lambda: json.loads(state["shown"] or "null") == json.loads(key), settle=0.6
        )

    try:
        time.sleep(3)
        base = show(n=0)
        pay = (740 / 1280, (56 + 24 + 190) / 800)
        row = (300 / 1280, (80 + 28 + 56 * 3) / 800)
        # Where the pay button and a list row are, measured on the rendered page.
        pay = _find(base, (0x18, 0x80, 0x38)) or pay
        pair(
            "web-clock",
            base,
            show(clock="09:42"),
            "same",
            "the header clock ticks a minute",
            pay,
            "" + source,
        )
        pair(
            "web-notification-dot",
            base,
            show(dot=True),
            "same",
            "a notification dot appears on the app icon",
            pay,
            source,
        )
        pair(
            "web-subpixel",
            base,
            show(shift=True),
            "same",
            "the text column drawn 0.4 px right, 0.3 px down (antialiasing differs everywhere)",
            pay,
            source,
        )
        pair(
            "web-dialog",
            base,
            show(dialog=True),
            "different",
            "a modal dialog dims the page",
            pay,
            source,
        )
        pair(
            "web-scrolled",
            base,
            show(scroll=170),
            "different",
            "the list scrolled by three rows",
            row,
            source,
        )
        pair(
            "web-text-at-target",
            base,
            show(pay="Pay $100"),
            "different",
            "the button about to be clicked reads Pay $100",
            pay,
            source,
        )
        focused = show(focus=True)
        assert focused is not None
        on, off, caret = blink_pair(env)
        pair(
            "web-caret-blink",
            on,
            off,
            "same",
            "the search field's caret blinks; the action clicks on it",
            caret,
            source,
        )
    finally:
        env.close()
        server.shutdown()


def _find(image: Image.Image, colour: tuple[int, int, int]) -> tuple[float, float] | None:
    """The centre of the pixels painted ``colour``, normalized."""
    rgb = image.convert("RGB")
    pixels = rgb.load()
    assert pixels is not None
    xs, ys = [], []
    for y in range(0, rgb.height, 2):
        for x in range(0, rgb.width, 2):
            if pixels[x, y] == colour:
                xs.append(x)
                ys.append(y)
    if not xs:
        return None
    return ((min(xs) + max(xs)) / 2 / rgb.width, (min(ys) + max(ys)) / 2 / rgb.height)


def main() -> None:
    for old in HERE.glob("*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory() as scratch:
        phone_pairs()
        tk_pairs(Path(scratch))
        web_pairs(Path(scratch))
    (HERE / "pairs.json").write_text(json.dumps(PAIRS, indent=1) + "\n")
    print(f"{len(PAIRS)} pairs, {len(SAVED)} screenshots")


if __name__ == "__main__":
    main()
