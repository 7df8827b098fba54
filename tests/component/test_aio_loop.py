"""The one asyncio loop (`trichat.aio`): asyncio callbacks that are ready run in
one pass, as asyncio's own loop runs them, not one per round of trio's scheduler;
and an asyncio call still crosses and answers, errors included."""

from __future__ import annotations

import asyncio

import pytest
import trio

from trichat import aio


async def test_ready_asyncio_callbacks_run_together_between_trio_steps() -> None:
    order: list[str] = []

    async def trio_steps() -> None:
        for _ in range(300):
            order.append("trio")
            await trio.lowlevel.checkpoint()

    async def schedule() -> None:  # (asyncio) 50 callbacks ready at once
        loop = asyncio.get_running_loop()
        for i in range(50):
            loop.call_soon(order.append, f"cb{i}")
        await asyncio.sleep(0.05)

    async with aio.open_aio_loop(), trio.open_nursery() as nursery:
        nursery.start_soon(trio_steps)
        await aio.run(schedule)
    callbacks = [i for i, what in enumerate(order) if what.startswith("cb")]
    assert [order[i] for i in callbacks] == [f"cb{i}" for i in range(50)]  # in order
    assert callbacks == list(range(callbacks[0], callbacks[0] + 50))  # no trio step between


async def test_an_asyncio_call_answers_and_raises_through_the_loop() -> None:
    async def answer(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError("from asyncio")

    async with aio.open_aio_loop():
        assert [await aio.run(answer, i) for i in range(3)] == [0, 2, 4]
        with pytest.raises(ValueError, match="from asyncio"):
            await aio.run(fail)
