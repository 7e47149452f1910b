"""The channel's frame reader polls before it sleeps (channel.SPIN_SECONDS), and neither that nor
a frame coming in pieces changes what it returns or when it gives up."""

from __future__ import annotations

import os
import threading
import time

import pytest

from qbtrigger.callbacks.isolation import channel


@pytest.fixture()
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_polling_is_bounded_and_off_on_one_cpu():
    assert 0.0 <= channel.SPIN_SECONDS <= 0.001
    if channel._cpus() == 1:
        assert channel.SPIN_SECONDS == 0.0


def test_a_frame_that_comes_while_polling_or_after_it_is_read(pipe):
    r, w = pipe
    reader = channel.FrameReader(r)
    for delay in (0.0, channel.SPIN_SECONDS / 4, channel.SPIN_SECONDS * 4 + 0.005):
        payload = f"after {delay}".encode()
        timer = threading.Timer(delay, os.write, (w, channel.frame(payload)))
        timer.start()
        assert reader.read(time.monotonic() + 5) == payload
        timer.join()
    threading.Timer(0.01, os.write, (w, channel.frame(b"no deadline"))).start()
    assert reader.read() == b"no deadline"


def test_a_frame_in_pieces_is_put_together(pipe):
    r, w = pipe
    reader = channel.FrameReader(r)
    data = channel.frame(b"x" * 1000)

    def dribble() -> None:
        for i in range(0, len(data), 300):
            os.write(w, data[i : i + 300])
            time.sleep(0.002)

    thread = threading.Thread(target=dribble)
    thread.start()
    assert reader.read(time.monotonic() + 5) == b"x" * 1000
    thread.join()


def test_the_deadline_still_holds_when_it_is_shorter_than_the_polling(pipe):
    r, _w = pipe
    reader = channel.FrameReader(r)
    started = time.monotonic()
    with pytest.raises(channel.ChannelTimeout):
        reader.read(started + channel.SPIN_SECONDS / 10)
    with pytest.raises(channel.ChannelTimeout):
        reader.read(started - 1)  # already past


def test_a_closed_pipe_is_reported_not_polled_forever(pipe):
    r, w = pipe
    os.close(w)
    with pytest.raises(channel.ChannelClosed):
        channel.FrameReader(r).read(time.monotonic() + 5)
