"""Group commit pacing (`store.base.batches`), on trio's mock clock."""

from __future__ import annotations

import trio
import trio.testing

from trichat.store.base import batches


async def test_a_lone_write_goes_at_once_and_a_busy_writer_waits_to_fill_the_next_batch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, recv = trio.open_memory_channel[int](100)
    got: list[tuple[float, list[int]]] = []
    async with trio.open_nursery() as nursery:

        async def writer() -> None:
            async for batch in batches(recv, max_batch=3, every=0.010):
                got.append((trio.current_time(), batch))

        nursery.start_soon(writer)
        await trio.sleep(1)
        send.send_nowait(1)  # idle writer: at once
        await trio.sleep(0.001)
        for n in (2, 3, 4, 5):  # within the interval: the next batch waits for it
            send.send_nowait(n)
        await trio.sleep(1)
        send.send_nowait(6)  # idle again: at once
        await trio.sleep(1)
        nursery.cancel_scope.cancel()

    assert [batch for _, batch in got] == [[1], [2, 3, 4], [5], [6]]
    times = [t - 1 for t, _ in got]
    assert times[0] == 0
    assert abs(times[1] - 0.010) < 1e-9  # one interval after the first batch started
    assert abs(times[2] - 0.020) < 1e-9  # max_batch left one behind: the next interval
    assert abs(times[3] - 1.001) < 1e-9  # sent 1.001 s in, long after: no wait
