"""Makes the README's screenshots of the Library on the sandbox: photos and a video dropped in,
thumbnails and a poster frame, the backups list mid-upload (one file paused part-way), then
everything backed up. Offscreen, with the sandbox's S3 server.

    .venv/bin/python docs/make_library_screenshots.py
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
DOCS = Path(__file__).resolve().parent


def make_media(folder: Path) -> list[Path]:
    """Twelve colourful photos, one large one (a multipart upload) and a short video."""
    import av
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(4)
    names = ["harbour sunrise", "coffee cart", "latte art", "market stall", "crowd at noon",
             "studio lights", "team portrait", "flat lay", "city at dusk", "neon sign",
             "beach walk", "night market"]
    paths = []
    for i, name in enumerate(names):
        top = tuple(rng.randrange(40, 255) for _ in range(3))
        bottom = tuple(rng.randrange(0, 120) for _ in range(3))
        img = Image.new("RGB", (1080, 1350))
        draw = ImageDraw.Draw(img)
        for y in range(1350):
            t = y / 1349
            draw.line([(0, y), (1080, y)], fill=tuple(int(a + (b - a) * t)
                                                      for a, b in zip(top, bottom, strict=True)))
        draw.ellipse([200 + 20 * i, 300, 880 - 10 * i, 980], fill=bottom[::-1])
        path = folder / f"{name}.jpg"
        img.save(path, quality=88)
        paths.append(path)
    big = folder / "drone panorama.png"
    Image.frombytes("RGB", (4000, 3000), rng.randbytes(4000 * 3000 * 3)).save(big)  # 5 parts
    paths.append(big)
    video = folder / "launch teaser.mp4"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for n in range(48):
            frame = Image.new("RGB", (640, 360), (255 - n * 4, 40, 60 + n * 3))
            ImageDraw.Draw(frame).rectangle([10 + n * 12, 120, 110 + n * 12, 240],
                                            fill=(250, 220, 40))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    paths.append(video)
    return paths


def main() -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.sandbox.host import SandboxHost
    from mbv_desktop.sandbox.s3 import SandboxS3
    from mbv_desktop.services.container import open_services
    from mbv_desktop.ui.main_window import MainWindow
    from mbv_desktop.ui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(4))
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        media = make_media(root / "shoot")
        host = SandboxHost(root / "sandbox")
        host.start()
        s3 = SandboxS3(None)
        s3.start()
        services = open_services(root / "data", env={}, overrides=sandbox_overrides(
            host.urls() | {"r2": s3.endpoint_url}), sandbox=True,
            sandbox_control_url=host.control_url)
        window = MainWindow(services, show_dialogs=False, remember_state=False)
        window.resize(1280, 860)
        window.show()
        window.show_panel("library")
        panel: Any = window.panels["library"]
        uploads = services.uploads

        async def scenario() -> None:
            while panel.uploads_view is None:
                await asyncio.sleep(0.02)
            panel.add_paths(media)
            while panel.model.rowCount() < len(media):
                await asyncio.sleep(0.05)
            await uploads.enqueue_missing()
            await uploads.pause_all()
            # The panorama goes part of the way, then is paused: a resumable multipart upload.
            big = next(i for i in await services.library.items()
                       if i.name == "drone panorama.png")
            client = await uploads.client()
            paused = threading.Event()
            entered: list[int] = []

            def hold(**_: Any) -> None:  # returns None: a value here would replace the call
                entered.append(1)
                paused.wait(10)

            client.s3.meta.events.register("before-call.s3.UploadPart", hold)
            await uploads.resume(big.asset.id)
            uploads.start()
            deadline = time.monotonic() + 20
            while not entered and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await uploads.pause(big.asset.id)
            paused.set()
            others = [i for i in await services.library.items() if i.asset.id != big.asset.id]
            for item in others[:4]:
                await uploads.resume(item.asset.id)
            await asyncio.sleep(1.0)
            await window.tasks.wait_idle()
            await asyncio.sleep(0.4)
            shot(window, "screenshot-library-uploading.png")
            await uploads.resume_all()
            while (await uploads.summary()).waiting and time.monotonic() < deadline + 20:
                await asyncio.sleep(0.1)
            await services.sync.sync_once()
            await window.tasks.wait_idle()
            await asyncio.sleep(0.5)
            shot(window, "screenshot-library.png")
            print(f"objects in the sandbox bucket: {len(s3.keys())}")

        def shot(w: Any, name: str) -> None:
            w.repaint()
            target = DOCS / name
            w.grab().save(str(target), "PNG")
            print(f"Saved {target}")

        loop.run_until_complete(scenario())
        loop.run_until_complete(services.aclose())
        window.close()
        services.close()
        s3.stop()
        host.stop()


if __name__ == "__main__":
    main()
