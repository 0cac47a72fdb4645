#!/usr/bin/env python3
"""An independent WHIP client (RFC 9725) for lectern's end-to-end tests, on aiortc.

Publishes a synthetic video (a bar moving over a gradient, 320x240 at 30 fps) and a 440 Hz tone
to a WHIP endpoint, the way OBS Studio does: one POST with a complete (non-trickle) offer and a
bearer token, media until told to stop, then DELETE of the session resource.

    publish.py --url http://127.0.0.1:8080/whip/<session> --token <facilitator key>
               [--codec vp8|h264] [--no-audio]

It prints one JSON object per line on stdout:
    {"event": "created", "status": 201, "location": "...", "answer": "<sdp>"}
    {"event": "refused", "status": 4xx, "body": "..."}        (then exits with status 3)
    {"event": "connection", "state": "connected"}             (peer connection states)
    {"event": "deleted", "status": 200}                       (after "stop" or end of input)
and reads commands from stdin, one a line: "stop" ends the stream with DELETE.

Everything stays on loopback: the client's ICE candidates are 127.0.0.1 only and it uses no
STUN/TURN server.
"""

import argparse
import asyncio
import fractions
import json
import math
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import aioice.ice
    import av
    from aiortc import (
        MediaStreamTrack,
        RTCBundlePolicy,
        RTCConfiguration,
        RTCPeerConnection,
        RTCRtpSender,
        RTCSessionDescription,
    )
except ImportError as e:  # pragma: no cover - the test harness checks this first
    sys.stderr.write(f"publish.py needs aiortc (pip install aiortc): {e}\n")
    sys.exit(2)

# Host candidates on loopback only: tests send nothing anywhere else.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

WIDTH, HEIGHT, FPS = 320, 240, 30
VIDEO_CLOCK = 90000
AUDIO_RATE, AUDIO_SAMPLES = 48000, 960  # 20 ms frames


def emit(**fields):
    print(json.dumps(fields), flush=True)


class MovingBar(MediaStreamTrack):
    """A gradient with a white bar that moves one step a frame, so every frame differs."""

    kind = "video"

    def __init__(self):
        super().__init__()
        self.n = 0
        self.start = None
        self.chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2))

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.n / FPS
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        bar = (self.n * 4) % WIDTH
        row = bytes(
            255 if bar <= x < bar + 16 else (x * 200) // WIDTH for x in range(WIDTH)
        )
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(row * HEIGHT)
        frame.planes[1].update(self.chroma)
        frame.planes[2].update(self.chroma)
        frame.pts = self.n * (VIDEO_CLOCK // FPS)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.n += 1
        return frame


class Tone(MediaStreamTrack):
    """A 440 Hz sine, mono s16, in 20 ms frames."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self.n = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.n * AUDIO_SAMPLES / AUDIO_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        base = self.n * AUDIO_SAMPLES
        samples = bytearray()
        for i in range(AUDIO_SAMPLES):
            v = int(8000 * math.sin(2 * math.pi * 440 * (base + i) / AUDIO_RATE))
            samples += v.to_bytes(2, "little", signed=True)
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(bytes(samples))
        frame.sample_rate = AUDIO_RATE
        frame.pts = base
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.n += 1
        return frame


def spread_candidates(sdp):
    """Copies the ICE candidate lines of a BUNDLE answer into every m-section.

    RFC 8843 puts the answerer's transport attributes in one m-section of the bundle (lectern's
    answer does so), but aiortc 1.16 takes the remote candidates of a bundled transport from its
    last m-section only, and would have none. Other WHIP clients (OBS Studio, GStreamer) read
    them where they are.
    """
    lines = sdp.replace("\r\n", "\n").rstrip("\n").split("\n")
    found = [
        l for l in lines if l.startswith("a=candidate:") or l == "a=end-of-candidates"
    ]
    out, section, has = [], [], False

    def close():
        out.extend(section)
        if section and section[0].startswith("m=") and not has:
            out.extend(found)

    for line in lines:
        if line.startswith("m="):
            close()
            section, has = [], False
        section.append(line)
        has = has or line.startswith("a=candidate:")
    close()
    return "\r\n".join(out) + "\r\n"


def http(method, url, token, body=None, content_type=None):
    """One blocking HTTP request: (status, headers, body text)."""
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="the WHIP endpoint")
    ap.add_argument("--token", required=True, help="the bearer token")
    ap.add_argument("--codec", choices=["vp8", "h264"], default=None)
    ap.add_argument("--no-audio", action="store_true")
    args = ap.parse_args()

    pc = RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )

    @pc.on("connectionstatechange")
    async def on_state():
        emit(event="connection", state=pc.connectionState)

    video = pc.addTransceiver(MovingBar(), direction="sendonly")
    if args.codec:
        wanted = f"video/{args.codec}"
        codecs = [
            c
            for c in RTCRtpSender.getCapabilities("video").codecs
            if c.mimeType.lower() == wanted
        ]
        video.setCodecPreferences(codecs)
    if not args.no_audio:
        pc.addTransceiver(Tone(), direction="sendonly")

    # Non-trickle: setLocalDescription gathers every candidate into the offer.
    await pc.setLocalDescription(await pc.createOffer())
    status, headers, text = await asyncio.to_thread(
        http,
        "POST",
        args.url,
        args.token,
        pc.localDescription.sdp.encode(),
        "application/sdp",
    )
    if status != 201:
        emit(event="refused", status=status, body=text)
        await pc.close()
        sys.exit(3)
    location = urllib.parse.urljoin(args.url, headers.get("Location", ""))
    emit(event="created", status=status, location=location, answer=text)
    await pc.setRemoteDescription(
        RTCSessionDescription(sdp=spread_candidates(text), type="answer")
    )

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "stop":
            break
    status, _, text = await asyncio.to_thread(http, "DELETE", location, args.token)
    emit(event="deleted", status=status, body=text)
    await pc.close()


if __name__ == "__main__":
    asyncio.run(main())
