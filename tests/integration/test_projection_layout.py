"""Read models of an older table layout (as left by an older version of the projector) are
rebuilt from the log when the projector starts, not written into with the wrong columns."""

from __future__ import annotations

import asyncio

from services.db import connection
from services.projector import commands, store
from tests.support.projections import applied, dump, log_end, replay
from tests.support.stack import Scratch, Stack


async def test_the_projector_rebuilds_read_models_of_an_older_layout(
    ready_stack: Stack, scratch: Scratch
) -> None:
    prefix, t = await scratch.topics_with_log("lay", 600, contracts=20, seed=5)
    live, clean = scratch.schema("lay"), scratch.schema("lay")
    settings = ready_stack.settings.model_copy(
        update={"topic_prefix": prefix, "projection_schema": live, "rebuild_processes": 2}
    )
    async with connection(ready_stack.dsn) as conn:
        # Tables as an older version left them: no layout fingerprint, and a column since gone.
        await store.ensure_live_schema(conn, live, t.events.name)
        await conn.execute(f"ALTER TABLE {live}.meta DROP COLUMN layout")
        await conn.execute(f"ALTER TABLE {live}.margin_impacts ADD COLUMN delta_markup_pct numeric")
        assert await store.ensure_live_schema(conn, live, t.events.name) is False

        # Two projectors find it at once: one rebuilds, the other waits for it, then both serve.
        stop = asyncio.Event()
        serving = [
            asyncio.create_task(
                commands.serve(settings.model_copy(update={"projector_instance_id": i}), stop)
            )
            for i in (f"{prefix}-1", f"{prefix}-2")
        ]
        end = await log_end(ready_stack.bootstrap, t.events)
        try:
            async with asyncio.timeout(120):
                while await applied(conn, live) < end:
                    for task in serving:
                        assert not task.done(), task.exception()
                    await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.gather(*serving)
        assert await store.ensure_live_schema(conn, live, t.events.name) is True
        columns = await conn.fetchval(
            """SELECT array_agg(column_name::text) FROM information_schema.columns
               WHERE table_schema = $1 AND table_name = 'margin_impacts'""",
            live,
        )
    await replay(ready_stack.bootstrap, t.events, ready_stack.dsn, clean)
    rebuilt, expected = await dump(ready_stack.dsn, live), await dump(ready_stack.dsn, clean)

    assert "delta_markup_pct" not in columns
    assert len(rebuilt["contracts"]) == 20
    assert rebuilt == expected
