"""A virtual Android device that speaks the real ADB protocol: a test and demo target."""

from vlagent.environments.virtual_android.device import VirtualDevice
from vlagent.environments.virtual_android.phone import Phone

__all__ = ["Phone", "VirtualDevice"]
