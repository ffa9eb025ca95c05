"""Is there a display to open a window on? Asked before dearpygui is touched: without one, dearpygui (GLFW)
aborts the whole process (SIGABRT), which Python cannot catch."""
from __future__ import annotations

import ctypes
import os
import sys

NO_DISPLAY_HINT = "use --headless --output FILE.mp4 to render a video instead, or run under xvfb-run"


def display_problem() -> str | None:
    """None where a window can open, else one line saying why not and what to do."""
    if not sys.platform.startswith("linux"):
        return None  # Windows and macOS always have their desktop
    display = os.environ.get("DISPLAY")
    if not display and not os.environ.get("WAYLAND_DISPLAY"):
        return f"no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set); {NO_DISPLAY_HINT}"
    if display and not os.environ.get("WAYLAND_DISPLAY") and not _x_server_answers():
        return f"cannot connect to the X display DISPLAY={display}; {NO_DISPLAY_HINT}"
    return None


def _x_server_answers() -> bool:
    """Whether the X server named by DISPLAY accepts a connection (True when Xlib is not there to ask)."""
    try:
        xlib = ctypes.CDLL("libX11.so.6")
    except OSError:
        return True
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = xlib.XOpenDisplay(None)
    if not connection:
        return False
    xlib.XCloseDisplay(connection)
    return True
