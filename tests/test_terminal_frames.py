"""The frames docs/serving.md tells a new user to paste into a terminal get the answers it shows."""

from __future__ import annotations

import json
import re

from .support import ROOT, Client, serve


def test_the_documented_frames_get_the_documented_answers() -> None:
    text = (ROOT / "docs" / "serving.md").read_text()
    section = text[text.index("## Trying it from a terminal") : text.index("## Where the socket is served")]
    blocks = re.findall(r"```json\n(.*?)```", section, re.S)
    sent = [json.loads(line) for block in blocks for line in block.splitlines()]
    expected = [json.loads(frame) for frame in re.findall(r"`(\{\"type\".*?\})`", section.replace("\n", ""))]
    answers_per_frame = [1, 1, 2, 1, 2, 1, 1]  # send_message and shout: a broadcast, then the answer
    assert (len(sent), len(expected)) == (len(answers_per_frame), sum(answers_per_frame))
    with serve("example_app:app") as server:
        client = Client(server.url, origin=f"http://localhost:{server.port + 1}")  # a dev page elsewhere
        received = []
        for frame, answers in zip(sent, answers_per_frame, strict=True):
            client.send(frame)
            received += [client.recv() for _ in range(answers)]
    assert received == expected
