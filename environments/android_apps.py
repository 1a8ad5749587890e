"""Which installed package an app name means (``open`` takes names, the device wants packages)."""

from __future__ import annotations

import re

# Labels whose package name does not contain the label (resolution falls back to package names).
KNOWN_APPS = {
    "settings": "com.android.settings",
    "chrome": "com.android.chrome",
    "clock": "com.google.android.deskclock",
    "camera": "com.android.camera2",
    "contacts": "com.android.contacts",
    "phone": "com.android.dialer",
    "messages": "com.google.android.apps.messaging",
    "gmail": "com.google.android.gm",
    "maps": "com.google.android.apps.maps",
    "play store": "com.android.vending",
    "youtube": "com.google.android.youtube",
    "calendar": "com.google.android.calendar",
    "photos": "com.google.android.apps.photos",
    "files": "com.google.android.documentsui",
    "calculator": "com.google.android.calculator",
}


def label_words(label: str) -> str:
    """``label`` as its lower-case words: ``Play-Store!`` and ``play store`` are one name."""
    return " ".join(re.findall(r"[a-z0-9]+", label.lower()))


def app_package(label: str, packages: list[str]) -> str | None:
    """The package of the app called ``label`` among ``packages``: a known name, a package
    named exactly so, else the shortest package whose name contains each of the label's words."""
    key = label.strip().lower()
    known = KNOWN_APPS.get(label_words(key))
    if known is not None and known in packages:
        return known
    if key in packages:
        return key
    words = re.findall(r"[a-z0-9]+", key)
    matches = [p for p in packages if words and all(w in p.lower() for w in words)]
    return min(matches, key=len) if matches else None


# Android keys that open or switch to an app, and which app: "settings" is the system settings
# (always com.android.settings); "launcher" the home screen, app drawer or recent apps; any
# other is the device's default app for a role (its browser, its e-mail app), or an app the
# device maker bound to the key, which only the device knows.
LAUNCHER = "launcher"
KEY_APPS: dict[str, str] = {
    "SETTINGS": "settings",
    **dict.fromkeys(
        "HOME ALL_APPS APP_SWITCH RECENT_APPS META_LEFT META_RIGHT STEM_PRIMARY".split(), LAUNCHER
    ),
    "CALCULATOR": "calculator",
    "CONTACTS": "contacts",
    "CALENDAR": "calendar",
    "MUSIC": "music",
    "EXPLORER": "browser",
    "BOOKMARK": "browser",
    "ENVELOPE": "email",
    "CALL": "phone",
    "CAMERA": "camera",
    "FOCUS": "camera",
    "SEARCH": "search",
    "ASSIST": "assistant",
    "VOICE_ASSIST": "assistant",
    "HEADSETHOOK": "assistant",
    "DICTATE": "assistant",
    "NOTIFICATION": "notifications",
    "PAIRING": "pairing",
    "PROFILE_SWITCH": "profile",
    "TV": "tv",
    "GUIDE": "tv",
    "DVR": "tv",
    "TV_INPUT": "tv",
    **{f"STEM_{i}": f"stem app {i}" for i in range(1, 4)},
    **{f"VIDEO_APP_{i}": f"video app {i}" for i in range(1, 9)},
    **{f"FEATURED_APP_{i}": f"featured app {i}" for i in range(1, 5)},
    **{f"DEMO_APP_{i}": f"demo app {i}" for i in range(1, 5)},
    **{f"MACRO_{i}": f"macro {i}" for i in range(1, 5)},
}
FIXED_KEY_APPS = frozenset({"settings", LAUNCHER})
"""Key apps the device cannot choose: any other key's app is whatever the device says."""
