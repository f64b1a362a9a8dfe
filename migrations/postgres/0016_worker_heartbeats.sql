-- Each worker process records its ticks: when it last finished one (wall time), the service
-- clock it read then, and the clock of its last scheduled run (cycle close, gating, reminder
-- scan). Operators see which workers are alive; a simulation waits for a run at its new day.
CREATE TABLE worker_heartbeats (
    worker TEXT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    beat_at TIMESTAMPTZ NOT NULL,
    clock_at TIMESTAMPTZ NOT NULL,
    scheduled_clock_at TIMESTAMPTZ,
    ticks BIGINT NOT NULL DEFAULT 0
);
