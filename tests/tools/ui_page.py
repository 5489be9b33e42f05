"""Drives the page of `zip-oss serve --ui` in headless Chromium (Selenium + chromedriver),
as tests/tests/ui_page.rs sets it up: a token-protected service whose source prefix is
`shared/`, over a bucket that also holds `private/` and `top.txt`.

usage: ui_page.py URL TOKEN DOWNLOAD_DIR SCREENSHOT

Opens the page, sees the 401 without a token, gives the token, walks two folders down
(`shared/`, `photos/`), ticks `2024/` and `notes.txt`, goes back up and ticks
`readme.txt`, waits for the exact size, takes a screenshot, downloads the zip through the
browser, then asks for the link. Prints {"size", "file", "link"} as JSON; any surprise
exits non-zero with what the page showed.
"""

import json
import os
import shutil
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait

url, token, download_dir, screenshot = sys.argv[1:5]

options = webdriver.ChromeOptions()
options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            "--window-size=1100,560", "--no-first-run", "--disable-extensions"):
    options.add_argument(arg)
options.add_experimental_option("prefs", {
    "download.default_directory": download_dir,
    "download.prompt_for_download": False,
    "safebrowsing.enabled": False,
})
service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
driver = webdriver.Chrome(options=options, service=service)
driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                       {"behavior": "allow", "downloadPath": download_dir})
# A row read while the page re-renders the listing goes stale: read it again.
wait = WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,))


def fail(what):
    error = driver.find_element(By.ID, "error").text
    sys.exit(f"{what}; the page's error line: {error!r}")


def listed():
    """The keys of the rows shown, once the listing has settled."""
    return [r.get_attribute("data-key") for r in driver.find_elements(By.CSS_SELECTOR, "#rows tr")]


def wait_rows(expected):
    try:
        wait.until(lambda d: sorted(listed()) == sorted(expected))
    except Exception:
        fail(f"expected rows {sorted(expected)}, the page shows {sorted(listed())}")


def row(key):
    return driver.find_element(By.CSS_SELECTOR, f'#rows tr[data-key="{key}"]')


def click(key, selector):
    """Clicks in the row of `key`, found again if the listing re-rendered under it."""
    wait.until(lambda d: row(key).find_element(By.CSS_SELECTOR, selector).click() or True)


def tick(key):
    click(key, "input.pick")


def open_folder(key):
    click(key, "a.folder")


try:
    driver.get(url + "#bkt/")
    # Without the token the service refuses to list.
    try:
        wait.until(lambda d: "Unauthorized" in d.find_element(By.ID, "error").text)
    except Exception:
        fail("expected a 401 without a token")
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    field.send_keys(Keys.TAB)  # leaving the field is what a user does: `change`

    # Top level: only the way to the allowed prefix, nothing beside it.
    wait_rows(["shared/"])
    open_folder("shared/")
    wait_rows(["shared/docs/", "shared/photos/", "shared/readme.txt"])
    open_folder("shared/photos/")
    wait_rows(["shared/photos/2024/", "shared/photos/notes.txt"])
    crumbs = driver.find_element(By.ID, "crumbs").text
    if "photos" not in crumbs:
        fail(f"breadcrumbs {crumbs!r} do not show photos")
    tick("shared/photos/2024/")
    tick("shared/photos/notes.txt")
    # Back up one level through the breadcrumbs; the picks stay.
    driver.find_element(By.LINK_TEXT, "shared").click()
    wait_rows(["shared/docs/", "shared/photos/", "shared/readme.txt"])
    tick("shared/readme.txt")

    picked = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#picked li")]
    if sorted(picked) != ["shared/photos/2024/", "shared/photos/notes.txt", "shared/readme.txt"]:
        fail(f"the selection shows {picked}")
    try:
        wait.until(lambda d: d.find_element(By.ID, "size").get_attribute("data-bytes"))
        wait.until(EC.element_to_be_clickable((By.ID, "download")))
    except Exception:
        fail("no size shown")
    size = int(driver.find_element(By.ID, "size").get_attribute("data-bytes"))
    driver.save_screenshot(screenshot)

    driver.find_element(By.ID, "download").click()
    deadline = time.time() + 60
    done = None
    while time.time() < deadline and done is None:
        names = os.listdir(download_dir)
        finished = [n for n in names if n.endswith(".zip")]
        if finished and not any(n.endswith(".crdownload") for n in names):
            done = os.path.join(download_dir, finished[0])
        time.sleep(0.2)
    if done is None:
        fail(f"no download finished in {download_dir}: {os.listdir(download_dir)}")

    # The link: packed into the bucket, a presigned URL shown.
    driver.find_element(By.ID, "get-link").click()
    try:
        link = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#link a"))[0]
    except Exception:
        fail("no link shown")
    print(json.dumps({"size": size, "file": done, "link": link.get_attribute("href")}))
finally:
    driver.quit()
