#!/usr/bin/env python3
"""Drive a `ublksim view` page in headless Chromium (Debian's chromium +
chromium-driver, Debian's python3-selenium): open it, check the first step,
press End, assert the violation or hang text is shown, step back and forward
with the keyboard, and save a screenshot.  Then unfold the sequence chart and
check it is drawn: one SVG lane per lane of the grid, one row per step, and
the ending marked (the violation on the last step, or a cycle / dead end);
its screenshot goes beside the first (`-chart.png`).

usage: viewer-test.py PAGE.html EXPECTED_TEXT SCREENSHOT.png
       viewer-test.py --diff-svg DIFF.svg SCREENSHOT.png   (a `diff --svg` state graph)
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
        check_chart(d, len(lanes) - 1, total, expected)
        d.save_screenshot(shot.removesuffix(".png") + "-chart.png")
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def check_chart(d, lanes, total, expected):
    """The folded chart: an inline <svg> with a lane per acting actor (the grid's
    columns but '#'), a row per step, and the ending marked."""
    svg = d.find_element(By.CSS_SELECTOR, "#chart svg.ublksim-chart")
    fold = d.find_element(By.ID, "chart")
    assert fold.get_attribute("open") is None, "the chart starts folded"
    d.find_element(By.CSS_SELECTOR, "#chart summary").click()
    assert fold.get_attribute("open") is not None, "the chart does not unfold"
    assert svg.is_displayed(), "the unfolded chart is not shown"
    assert svg.size["width"] > 300 and svg.size["height"] > 100, svg.size
    got = len(svg.find_elements(By.CSS_SELECTOR, "g.lane"))
    assert got == lanes, f"chart has {got} lanes, the grid {lanes}"
    rows = svg.find_elements(By.CSS_SELECTOR, "g.step")
    assert len(rows) == total, f"chart has {len(rows)} rows for {total} steps"
    if "VIOLATION" in expected:
        bad = svg.find_elements(By.CSS_SELECTOR, "g.step.violation")
        assert len(bad) == 1, f"{len(bad)} violating rows"
        assert bad[0].get_attribute("data-n") == str(total), "violation is not the last step"
    else:
        ends = svg.find_elements(By.CSS_SELECTOR, "g.cycle, g.dead-end")
        assert len(ends) == 1, "a hang needs its cycle bracket or dead-end mark"
        if ends[0].get_attribute("class") == "cycle":
            assert ends[0].get_attribute("data-to") == str(total), "the cycle must end the trace"
    d.execute_script("arguments[0].scrollIntoView()", svg)


def check_diff_svg(svg, shot):
    """`ublksim diff --svg`, opened in Chromium: every drawn node is shown, nodes of both
    colours only one side reaches are present and drawn in their own fill, and every step
    has its arrow."""
    profile = tempfile.mkdtemp(prefix="ublk-viewer-")
    d = driver(profile)
    try:
        d.get("file://" + os.path.abspath(svg))
        nodes = d.find_elements(By.CSS_SELECTOR, "g.node")
        assert nodes, "no node drawn"
        assert all(n.is_displayed() for n in nodes), "a node is not displayed"
        fills = {}
        for cls in ("both", "only_base", "only_patch"):
            got = d.find_elements(By.CSS_SELECTOR, f"g.node.{cls} path, g.node.{cls} polygon")
            assert got, f"no {cls} node"
            fills[cls] = {g.get_attribute("fill") for g in got}
        assert len({frozenset(v) for v in fills.values()}) == 3, f"colours not distinct: {fills}"
        edges = d.find_elements(By.CSS_SELECTOR, "g.edge")
        assert len(edges) >= len(nodes) - 1, f"{len(edges)} steps for {len(nodes)} states"
        d.save_screenshot(shot)
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return len(nodes), len(edges)


def main():
    if sys.argv[1:2] == ["--diff-svg"]:
        svg, shot = sys.argv[2:4]
        try:
            n, e = check_diff_svg(svg, shot)
        except AssertionError as err:
            print(f"diff picture test FAILED: {err}")
            print("0 passed, 1 failed")
            return 1
        print(f"diff picture test: {svg} shows {n} states and {e} steps; screenshot {shot}")
        print("1 passed, 0 failed")
        return 0
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
