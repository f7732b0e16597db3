"""The lab's speed as a learner sees it: steps/s and view updates/s, with Chromium rendering.

Starts `minigan lab --no-browser` in its own process, opens the page in headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright from the test extra), and for each case
(data set, method, backend) plays for 6 s of warm-up, then counts the trainer's steps over 20 s
and reads the page's view updates per second (the server's, and how many the page drew); it
also reads the server process's CPU time, to say how much of the machine the lab used. Every
view is on (the defaults).

    python docs/lab_speed.py            # the machine as it is
    python docs/lab_speed.py --busy 2   # with two more processes spinning (a busy laptop)
    python docs/lab_speed.py --cases ring-gmn-cython --rounds 4 --against DIR
        # this checkout and the one in DIR (built in place) in turn, four rounds: a before and
        # after measured side by side on a machine whose speed drifts

Figures: docs/results.md, "The lab".
"""
import argparse
import os
import re
import subprocess
import sys
import time

from playwright.sync_api import sync_playwright

CASES = [("ring", "gmn", "cython"), ("grid", "mmdgan", "cython"),
         ("ring", "gmn", "numpy"), ("grid", "mmdgan", "numpy")]
WARM_UP, MEASURE = 6.0, 20.0
CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100   # utime, stime in clock ticks (100/s)


def renders(page):
    """How many snapshots the page has drawn so far (its body's data-renders counter)."""
    return int(page.get_attribute("body", "data-renders") or 0)


def main():
    names = {"-".join(c): c for c in CASES}
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--busy", type=int, default=0, help="processes spinning beside the lab")
    p.add_argument("--cases", nargs="+", choices=list(names), default=list(names))
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--against", metavar="DIR", help="another minigan checkout, built in place")
    args = p.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    checkouts = [here] + ([os.path.abspath(args.against)] if args.against else [])
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(args.busy)]
    try:
        for _ in range(args.rounds):
            for checkout in checkouts:
                measure([names[c] for c in args.cases], checkout)
    finally:
        for p in spinners:
            p.kill()


def measure(cases, checkout):
    """Each case once, in one lab server that imports minigan from the checkout `checkout`."""
    env = dict(os.environ, PYTHONPATH=checkout)
    where = subprocess.run([sys.executable, "-c", "import minigan; print(minigan.__file__)"],
                           env=env, cwd=checkout, capture_output=True, text=True,
                           check=True).stdout.strip()
    print(f"minigan from {os.path.dirname(os.path.dirname(where))}")
    server = subprocess.Popen([sys.executable, "-m", "minigan", "lab", "--no-browser"],
                              stdout=subprocess.PIPE, text=True, env=env, cwd=checkout)
    url = next(m.group(0) for line in server.stdout if (m := re.search(r"http://\S+", line)))
    printed = time.monotonic()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(url)
            while not page.get_attribute("body", "data-renders"):
                time.sleep(0.02)
            print(f"first view {time.monotonic() - printed:.2f} s after the URL was printed "
                  f"(Chromium's start included)")
            for dataset, method, backend in cases:
                page.select_option("#dataset", dataset)
                page.select_option("#method", method)
                page.select_option('[data-param="backend"]', backend)
                # each choice rebuilds the trainer (step 0); play only once the last is in
                page.wait_for_function(   # snap: the snapshot the page shows
                    "([d, m, b]) => snap.dataset === d && snap.method === m && "
                    "snap.backend === b && snap.step === 0",
                    arg=[dataset, method, backend], timeout=30_000)
                time.sleep(1)
                page.click("#play")
                time.sleep(WARM_UP)
                steps0, renders0, cpu0, t0 = (int(page.text_content("#step-count")), renders(page),
                                              cpu_seconds(server.pid), time.monotonic())
                views = []
                while time.monotonic() - t0 < MEASURE:
                    time.sleep(2)
                    views.append(float(page.text_content("#views-per-second")))
                elapsed = time.monotonic() - t0
                steps = (int(page.text_content("#step-count")) - steps0) / elapsed
                drawn = (renders(page) - renders0) / elapsed
                share = (cpu_seconds(server.pid) - cpu0) / elapsed
                page.click("#play")
                time.sleep(1)
                print(f"{dataset:5} {method:7} {backend:7} steps/s {steps:6.1f}   view updates/s "
                      f"{sorted(views)[len(views) // 2]:5.1f} (drawn by the page {drawn:5.1f})   "
                      f"server CPU {share:4.0%}")
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
