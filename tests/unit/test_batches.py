"""Group commit pacing (`store.writer.batches`), on trio's mock clock."""

from __future__ import annotations

import trio
import trio.testing

from trichat.store.writer import batches


async def test_a_busy_writer_waits_to_fill_the_next_batch_and_a_lone_one_never_waits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, recv = trio.open_memory_channel[int](100)
    got: list[tuple[float, list[int]]] = []
    async with trio.open_nursery() as nursery:

        async def writer() -> None:
            async for batch in batches(recv, max_batch=3, every=0.010):
                got.append((trio.current_time() - 1, batch))
                await trio.sleep(0.001)  # the commit

        nursery.start_soon(writer)
        await trio.sleep(1)
        for n in (1, 2):  # an idle writer: at once, both
            send.send_nowait(n)
        await trio.sleep(0.002)
        for n in (3, 4, 5, 6):  # after a batch of two: the next one waits to fill
            send.send_nowait(n)
        await trio.sleep(1)
        for n in (7, 8, 9):  # one at a time, each after the last one's commit
            send.send_nowait(n)
            await trio.sleep(0.0015)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()

    assert [batch for _, batch in got] == [[1, 2], [3, 4, 5], [6], [7], [8], [9]]
    times = [round(t, 6) for t, _ in got]
    # [3, 4, 5] one interval after [1, 2] started; [6] one after that (max_batch
    # left it behind); [6] held one write: 7, 8, 9 go as they come
    assert times == [0, 0.010, 0.020, 1.002, 1.0035, 1.005]
