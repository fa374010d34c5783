"""Images: sizes, determinism, the img2img effect and the cross-origin image_url."""

from __future__ import annotations

import io
import time
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image, ImageStat
from sandbox_helpers import png_b64

from sharkapi_ext.sandbox import Sandbox


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


def test_images_are_deterministic(client: httpx.Client) -> None:
    first = fetch(finish(client, {"prompt": "same", "mode": "1k"})["image_url"])
    again = fetch(finish(client, {"prompt": "same", "mode": "1k"})["image_url"])
    other = fetch(finish(client, {"prompt": "different", "mode": "1k"})["image_url"])
    assert first == again
    assert first != other


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
    r, g, b = mean_rgb(full)
    assert r > 250
    assert g < 5
    assert b < 5
    assert none == plain
    r0, g0, b0 = mean_rgb(none)
    assert not (r0 > 200 and g0 < 50 and b0 < 50)
    half = fetch(finish(client, {"prompt": "p", "mode": "1k", "image": red})["image_url"])
    assert mean_rgb(half)[0] > r0  # default strength 0.5 pulls toward red


def test_jpeg_source_accepted(client: httpx.Client) -> None:
    blue = png_b64((0, 0, 255), (64, 48), "JPEG")
    status = finish(client, {"prompt": "p", "mode": "1k", "image": blue, "image_strength": 1})
    r, _, b = mean_rgb(fetch(status["image_url"]))
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


def test_image_404_until_complete(client: httpx.Client) -> None:
    job_id = client.post("/v1/generate", json={"prompt": "p", "mode": "1k"}).json()["job_id"]
    early = httpx.get(f"{client.base_url}/_sandbox/images/{job_id}.png")
    assert early.status_code == 404
    assert httpx.get(f"{client.base_url}/_sandbox/images/job_nope.png").status_code == 404
    failed = client.post("/v1/generate", json={"prompt": "[fail]", "mode": "1k"}).json()["job_id"]
    time.sleep(0.2)
    assert httpx.get(f"{client.base_url}/_sandbox/images/{failed}.png").status_code == 404
