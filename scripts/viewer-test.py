#!/usr/bin/env python3
"""Drive a `ublksim view` page in headless Chromium (Debian's chromium +
chromium-driver, Debian's python3-selenium): open it, check the first step,
press End, assert the violation or hang text is shown, step back and forward
with the keyboard, and save a screenshot.

usage: viewer-test.py PAGE.html EXPECTED_TEXT SCREENSHOT.png
Exit 0 on success; prints '1 passed, 0 failed' (or '0 passed, 1 failed').
"""
import os
import shutil
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


def driver(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update",
              "--no-first-run", "--disable-sync", "--window-size=1500,1000",
              f"--user-data-dir={profile}"):
        opts.add_argument(a)
    svc = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=svc, options=opts)


def check(page, expected, shot):
    profile = tempfile.mkdtemp(prefix="ublk-viewer-")
    d = driver(profile)
    try:
        d.get("file://" + os.path.abspath(page))
        pos = lambda: d.find_element(By.ID, "pos").text
        end = d.find_element(By.ID, "end")
        assert pos().startswith("step 0 / "), pos()
        assert not end.is_displayed(), "the ending is shown before the last step"
        total = int(pos().split("/")[1])
        body = d.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.ARROW_RIGHT)
        assert pos() == f"step 1 / {total}", pos()
        body.send_keys("j")
        assert pos() == f"step 2 / {total}", pos()
        body.send_keys("k")
        assert pos() == f"step 1 / {total}", pos()
        body.send_keys(Keys.END)
        assert pos() == f"step {total} / {total}", pos()
        assert end.is_displayed(), "the ending is not shown at the last step"
        assert expected in end.text, f"{expected!r} not in {end.text!r}"
        bad = d.find_elements(By.CSS_SELECTOR, "#grid tr.bad, #grid tr.cycle")
        assert bad, "no violating step or cycle is highlighted"
        lanes = d.find_elements(By.CSS_SELECTOR, "#head th")
        assert len(lanes) >= 3, "expected a lane per actor"
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        d.save_screenshot(shot)
        body.send_keys(Keys.HOME)
        assert pos() == f"step 0 / {total}", pos()
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    page, expected, shot = sys.argv[1:4]
    try:
        check(page, expected, shot)
    except AssertionError as e:
        print(f"viewer test FAILED: {e}")
        print("0 passed, 1 failed")
        return 1
    print(f"viewer test: {page} shows {expected!r} at the end; screenshot {shot}")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
