"""Images: sizes, determinism, the img2img effect and the cross-origin image_url."""

from __future__ import annotations

import io
import time
from urllib.parse import urlsplit

import httpx
import pytest
import sandbox_helpers
from PIL import Image, ImageChops, ImageStat
from sandbox_helpers import png_b64

from sharkapi_ext.sandbox import Sandbox
from sharkapi_ext.sandbox._images import render_png


def finish(client: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    response = client.post("/v1/generate", json=body)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    for _ in range(200):
        status = client.get(f"/v1/jobs/{job_id}").json()
        if status["status"] == "complete":
            return dict(status)
        time.sleep(0.02)
    raise AssertionError("job did not complete")


def fetch(url: object) -> bytes:
    response = httpx.get(str(url))  # no token: the image host must not need one
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    return response.content


def mean_rgb(png: bytes) -> tuple[float, ...]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return tuple(ImageStat.Stat(image).mean)


@pytest.mark.parametrize(("mode", "side"), [("1k", 1024), ("2k", 2048)])
def test_image_size(client: httpx.Client, mode: str, side: int) -> None:
    status = finish(client, {"prompt": "a shark", "mode": mode})
    image = Image.open(io.BytesIO(fetch(status["image_url"])))
    assert image.format == "PNG"
    assert image.size == (side, side)


def scene(png: bytes) -> Image.Image:
    """The picture above the caption band and below the badge: the prompt's scene only."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    side = image.width
    return image.crop((0, side // 8, side, side * 3 // 4))


def mean_scene_rgb(png: bytes) -> tuple[float, ...]:
    return tuple(ImageStat.Stat(scene(png)).mean)


def test_images_are_deterministic(client: httpx.Client) -> None:
    first = finish(client, {"prompt": "same", "mode": "1k"})
    again = finish(client, {"prompt": "same", "mode": "1k"})
    other = finish(client, {"prompt": "different", "mode": "1k"})
    # Same prompt, same scene; the caption names each job, so the files differ.
    assert scene(fetch(first["image_url"])) == scene(fetch(again["image_url"]))
    assert scene(fetch(first["image_url"])) != scene(fetch(other["image_url"]))
    assert fetch(first["image_url"]) == fetch(first["image_url"])
    assert render_png("same", "1k", None, None, "job_a") == render_png(
        "same", "1k", None, None, "job_a"
    )


def test_image_is_captioned_and_marked_as_sandbox() -> None:
    # The caption band at the bottom and the badge at the top are drawn on every image:
    # two jobs with one prompt differ only in the band, where their ids are written.
    a = Image.open(io.BytesIO(render_png("a shark", "1k", None, None, "job_aaaa")))
    b = Image.open(io.BytesIO(render_png("a shark", "1k", None, None, "job_bbbb")))
    c = Image.open(io.BytesIO(render_png("a shark", "2k", None, None, "job_aaaa")))
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox()
    assert diff is not None
    assert diff[1] > 1024 * 3 // 4  # only the band changed
    assert c.size == (2048, 2048)
    badge = a.convert("RGB").getpixel((40, 40))
    assert badge == (255, 196, 0)  # the yellow "SharkAPI sandbox" badge


def test_prompt_words_choose_the_scene() -> None:
    night = mean_scene_rgb(render_png("the harbour at night", "1k", None, None, "job_n"))
    day = mean_scene_rgb(render_png("the harbour on a sunny day", "1k", None, None, "job_d"))
    assert sum(night) < sum(day) / 2


def test_img2img_uses_the_source(client: httpx.Client) -> None:
    red = png_b64((255, 0, 0))
    full = fetch(
        finish(client, {"prompt": "p", "mode": "1k", "image": red, "image_strength": 1.0})[
            "image_url"
        ]
    )
    none = fetch(
        finish(client, {"prompt": "p", "mode": "1k", "image": red, "image_strength": 0.0})[
            "image_url"
        ]
    )
    plain = fetch(finish(client, {"prompt": "p", "mode": "1k"})["image_url"])
    r, g, b = mean_scene_rgb(full)
    assert r > 250
    assert g < 5
    assert b < 5
    assert scene(none) == scene(plain)
    r0, g0, b0 = mean_scene_rgb(none)
    assert not (r0 > 200 and g0 < 50 and b0 < 50)
    half = fetch(finish(client, {"prompt": "p", "mode": "1k", "image": red})["image_url"])
    assert mean_scene_rgb(half)[0] > r0  # default strength 0.5 pulls toward red


def test_jpeg_source_accepted(client: httpx.Client) -> None:
    blue = png_b64((0, 0, 255), (64, 48), "JPEG")
    status = finish(client, {"prompt": "p", "mode": "1k", "image": blue, "image_strength": 1})
    r, _, b = mean_scene_rgb(fetch(status["image_url"]))
    assert b > 200
    assert r < 40


def test_image_url_is_cross_origin_and_needs_no_token(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    status = finish(client, {"prompt": "p", "mode": "1k"})
    api, image = urlsplit(sandbox.base_url), urlsplit(str(status["image_url"]))
    assert (api.scheme, api.port) == (image.scheme, image.port)
    assert api.hostname == "127.0.0.1"
    assert image.hostname == "localhost"
    assert sandbox.image_origin == f"http://localhost:{sandbox.port}"
    fetch(status["image_url"])
    fetched = [r for r in sandbox.requests() if r.path.startswith("/_sandbox/images/")]
    assert [(r.host, r.has_authorization, r.status) for r in fetched] == [
        (f"localhost:{sandbox.port}", False, 200)
    ]
    # A leaky client shows up in the log.
    client.get(str(status["image_url"]))
    leaked = [r for r in sandbox.requests() if r.path.startswith("/_sandbox/images/")][-1]
    assert leaked.has_authorization is True


@pytest.mark.anyio
async def test_image_404_until_complete(
    api: httpx.AsyncClient, clock: sandbox_helpers.FakeClock
) -> None:
    """On the fake clock (1 s queued, 2 s processing): no real waiting, no race."""
    post = {"prompt": "p", "mode": "1k"}
    job_id = (await api.post("/v1/generate", json=post)).json()["job_id"]
    image = f"/_sandbox/images/{job_id}.png"
    assert (await api.get(image)).status_code == 404
    assert (await api.get("/_sandbox/images/job_nope.png")).status_code == 404
    failed = (await api.post("/v1/generate", json={**post, "prompt": "[fail]"})).json()["job_id"]
    clock.advance(2.9)
    assert (await api.get(image)).status_code == 404  # still processing
    clock.advance(0.2)
    assert (await api.get(f"/v1/jobs/{job_id}")).json()["status"] == "complete"
    assert (await api.get(image)).status_code == 200
    assert (await api.get(f"/_sandbox/images/{failed}.png")).status_code == 404
