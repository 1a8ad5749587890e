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


def app_package(label: str, packages: list[str]) -> str | None:
    """The package of the app called ``label`` among ``packages``: a known name, a package
    named exactly so, else the shortest package whose name contains each of the label's words."""
    key = label.strip().lower()
    if key in KNOWN_APPS and KNOWN_APPS[key] in packages:
        return KNOWN_APPS[key]
    if key in packages:
        return key
    words = re.findall(r"[a-z0-9]+", key)
    matches = [p for p in packages if words and all(w in p.lower() for w in words)]
    return min(matches, key=len) if matches else None
