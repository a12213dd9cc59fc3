"""Retake the README's screenshots from a running demo (`make demo`), with the system Chromium.

    .venv/bin/python docs/screenshots.py [BASE_URL] [USERNAME] [PASSWORD]

Writes docs/dashboard.png, docs/tutors.png, docs/tutor.png and docs/dashboard-phone.png.
"""

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main(base="http://127.0.0.1:8000", username="admin", password="tutorscore-demo"):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.screenshot(path=DOCS / "dashboard.png", full_page=True)
        riskiest = page.locator("#risk-h ~ .table-wrap tbody a").first.get_attribute("href")

        page.goto(f"{base}/tutors/?sort=rate&window=30")
        page.screenshot(path=DOCS / "tutors.png")
        page.goto(base + riskiest)
        # The history chart by keyboard: its cursor on the latest alert mark (else today), the readout shown.
        chart = page.locator("#history svg.chart-lines")
        chart.focus()
        page.keyboard.press("End")
        marks = chart.locator(".mark").evaluate_all("marks => marks.map(mark => Number(mark.dataset.i))")
        last = len(chart.get_attribute("data-x").split()) - 1
        for _ in range(last - max(marks, default=last)):
            page.keyboard.press("ArrowLeft")
        page.screenshot(path=DOCS / "tutor.png", full_page=True)

        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.add_cookies(page.context.cookies())
        phone_page = phone.new_page()
        phone_page.goto(f"{base}/")
        phone_page.screenshot(path=DOCS / "dashboard-phone.png", full_page=True)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
