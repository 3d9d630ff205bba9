"""The console in a browser: a Chromium context that records every request it makes, and
a count of the colours drawn in a region of a screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.browser import CHROMIUM, PHONE
from tests.console.png import decode

__all__ = ["CHROMIUM", "PHONE", "Console", "coloured_pixels"]

LAPTOP = {"width": 1280, "height": 900}


class Console:
    """One browser context on the console, recording every request it makes."""

    def __init__(self, browser: Any, base_url: str, locale: str = "ja-JP") -> None:
        self.base_url = base_url
        self.context = browser.new_context(viewport=LAPTOP, locale=locale)
        self.requests: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))

    def open(self, hash_: str = "") -> None:
        self.page.goto(f"{self.base_url}/console/{hash_}")
        self.page.wait_for_selector("main[data-ready=true]")

    def sign_in(self, key: str) -> None:
        self.open()
        assert self.page.locator("main").get_attribute("data-view") == "signin"
        self.page.fill("#api_key", key)
        self.page.click("form.signin button[type=submit]")
        self.page.wait_for_selector("main[data-view=overview][data-ready=true]")

    def go(self, hash_: str, view: str) -> None:
        self.page.evaluate(
            """h => { if (location.hash !== h) {
                document.querySelector('main').dataset.ready = ''; location.hash = h; } }""",
            hash_,
        )
        self.page.wait_for_selector(f"main[data-view={view}][data-ready=true]")

    def follow(self, selector: str, view: str) -> None:
        """Click a link of the view that draws it again (a page of a list), and wait for
        the new drawing: the page is marked not ready first, as `go` does, so an element
        the old drawing already had cannot end the wait before the click's hash change
        has redrawn it."""
        self.page.evaluate("() => { document.querySelector('main').dataset.ready = ''; }")
        self.page.click(selector)
        self.page.wait_for_selector(f"main[data-view={view}][data-ready=true]")

    def close(self) -> None:
        self.context.close()

    def other_hosts(self) -> list[str]:
        own = urlsplit(self.base_url).netloc
        return sorted({u for u in self.requests if urlsplit(u).netloc != own})

    def screenshot(self, name: str, tmp_path: Path) -> bytes:
        """The whole page, scrolled to its top first: a bounding box read after it is then
        in the image's coordinates (scrolled, a box is off by the scroll, which grows as
        other tests lengthen a shared page)."""
        path = tmp_path / name
        self.page.evaluate("() => window.scrollTo(0, 0)")
        data: bytes = self.page.screenshot(path=str(path), full_page=True)
        if os.environ.get("KIZUNA_SCREENSHOT_DIR"):
            shutil.copy(path, Path(os.environ["KIZUNA_SCREENSHOT_DIR"]) / name)
        return data


def coloured_pixels(png: bytes, box: dict[str, float]) -> dict[tuple[int, int, int], int]:
    """Colours counted in a region of a screenshot, leaving out white and greys (the
    background, the axes and the labels): what remains was drawn in colour."""
    image = decode(png)
    found: dict[tuple[int, int, int], int] = {}
    for y in range(int(box["y"]), min(image.height, int(box["y"] + box["height"]))):
        for x in range(int(box["x"]), min(image.width, int(box["x"] + box["width"]))):
            r, g, b = image.pixel(x, y)
            if max(r, g, b) - min(r, g, b) > 40:
                found[(r, g, b)] = found.get((r, g, b), 0) + 1
    return found
