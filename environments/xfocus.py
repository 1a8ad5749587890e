"""Which window has the keyboard on an X display, and giving it to the window a click lands on.

Without a window manager (a private Xvfb, a bare kiosk display) nobody moves the keyboard focus
when a window is clicked: once a program has set it to itself (Chromium does), keys keep going
there, even after a dialog opened on top was clicked. A window manager normally does it, but
may not (focus-stealing prevention, a dialog mapped late). So before a button is pressed,
:func:`focus_at` gives the keyboard to the top-level window under the point, if it does not hold
it already: by ``XSetInputFocus`` without a window manager, by the EWMH ``_NET_ACTIVE_WINDOW``
request (which the manager carries out, raising the window) with one.

:func:`keyboard_app` names the application the keyboard goes to now, by its window's class
(WM_CLASS); every call takes a few X round trips, well under 1 ms.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

# X protocol values (Xlib.X): kept here so this module loads without python-xlib.
_NONE, _POINTER_ROOT = 0, 1
_REVERT_TO_PARENT = 2
_CURRENT_TIME = 0
_ANY_PROPERTY_TYPE = 0
_IS_VIEWABLE = 2
_SUBSTRUCTURE_MASKS = (1 << 19) | (1 << 20)  # SubstructureNotify | SubstructureRedirect
_FROM_PAGER = 2  # EWMH source indication: a pager/taskbar asks, exempt from focus stealing rules


def quiet_xlib() -> contextlib.AbstractContextManager[object]:
    """python-xlib prints authority warnings to stdout; the CLI's output is not the place."""
    return contextlib.redirect_stdout(io.StringIO())


def _is_window(value: Any) -> bool:
    return value is not None and not isinstance(value, int)


def _top_level(display: Any, window: Any) -> Any:
    """The child of the root that holds ``window`` (a window manager's frame, or the program's
    own top-level without one); None for the root or no window."""
    root = display.screen().root
    while _is_window(window) and window.id != root.id:
        parent = window.query_tree().parent
        if not _is_window(parent) or parent.id == root.id:
            return window
        window = parent
    return None


def _client(display: Any, top: Any) -> Any:
    """The program's window inside ``top``: ``top`` itself without a window manager, else the
    descendant that carries WM_STATE (what the manager set on the window it manages)."""
    wm_state = display.intern_atom("WM_STATE")
    pending = [top]
    while pending:
        window = pending.pop(0)
        if window.get_full_property(wm_state, _ANY_PROPERTY_TYPE) is not None:
            return window
        pending.extend(window.query_tree().children)
    return top


def window_manager(display: Any) -> bool:
    """Whether an EWMH window manager runs: the root names its check window, and that window
    names itself (a manager that died leaves the root's property behind)."""
    check = display.intern_atom("_NET_SUPPORTING_WM_CHECK")
    found = display.screen().root.get_full_property(check, _ANY_PROPERTY_TYPE)
    if found is None or not len(found.value):
        return False
    child = display.create_resource_object("window", int(found.value[0]))
    try:
        own = child.get_full_property(check, _ANY_PROPERTY_TYPE)
    except Exception:  # the window is gone: BadWindow
        return False
    return own is not None and len(own.value) > 0 and int(own.value[0]) == child.id


def keyboard_window(display: Any) -> Any:
    """The window key events go to now: the focus window or, where the focus is PointerRoot (X's
    default without a window manager), the top-level window under the pointer. None when the
    keyboard goes nowhere (focus None) or to the bare root."""
    root = display.screen().root
    focus = display.get_input_focus().focus
    if focus == _POINTER_ROOT or (_is_window(focus) and focus.id == root.id):
        focus = root.query_pointer().child
    return focus if _is_window(focus) and focus.id != root.id else None


def app_name(display: Any, window: Any) -> str | None:
    """The class (WM_CLASS) of the application ``window`` belongs to: its own, or the nearest
    ancestor's, or, for a window manager's frame, its client's."""
    root = display.screen().root
    start = window
    while _is_window(window) and window.id != root.id:
        names = window.get_wm_class()
        if names:
            return str(names[1])
        window = window.query_tree().parent
    top = _top_level(display, start)
    if top is not None:
        names = _client(display, top).get_wm_class()
        if names:
            return str(names[1])
    return None


def keyboard_app(display: Any) -> str | None:
    """The application the keyboard goes to now (None when no window says); never raises."""
    try:
        with quiet_xlib():
            window = keyboard_window(display)
            return app_name(display, window) if window is not None else None
    except Exception:  # a display that went away cannot say
        return None


def focus_at(display: Any, x: int, y: int) -> bool:
    """Give the keyboard to the top-level window at root point (x, y) unless it holds it already
    (a program's own focus inside its window is left alone). Pop-ups (override-redirect: menus,
    tooltips) take no focus. Returns whether the focus was moved; never raises."""
    try:
        with quiet_xlib():
            return _focus_at(display, x, y)
    except Exception:  # a window gone meanwhile, a display gone: the click goes on as before
        return False


def _focus_at(display: Any, x: int, y: int) -> bool:
    root = display.screen().root
    top = root.translate_coords(root, x, y).child
    if not _is_window(top):
        return False
    attributes = top.get_attributes()
    if attributes.override_redirect or attributes.map_state != _IS_VIEWABLE:
        return False
    holder = _top_level(display, keyboard_window(display))
    if holder is not None and holder.id == top.id:
        return False
    client = _client(display, top)
    if window_manager(display):
        from Xlib.protocol import event

        message = event.ClientMessage(
            window=client,
            client_type=display.intern_atom("_NET_ACTIVE_WINDOW"),
            data=(32, [_FROM_PAGER, _CURRENT_TIME, 0, 0, 0]),
        )
        root.send_event(message, event_mask=_SUBSTRUCTURE_MASKS)
    else:
        client.set_input_focus(_REVERT_TO_PARENT, _CURRENT_TIME)
    display.sync()  # the focus is in place before the button goes down
    return True
