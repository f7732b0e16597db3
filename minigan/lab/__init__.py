"""minigan lab: watch the GMN, the GAN and the MMD-GAN learn, live, in the browser.

    minigan lab [--port N] [--host 127.0.0.1] [--no-browser]

server   the local HTTP server and its JSON API (standard library only)
session  one open page: its trainer, the thread that trains it, snapshots of the views
settings what a page may set, checked, and the trainer built from it
views    what each view shows, computed by the library (the page only draws)
static/  the page: index.html, lab.js, lab.css (plain JS and canvas, nothing fetched from
         elsewhere, no build step)
"""
from .server import LabServer, main

__all__ = ["LabServer", "main"]
