-- The trace context (W3C traceparent) of the run step that asked for items, so that the broker's POST of a
-- batch, made for many runs at once, links to each of their traces. Empty when tracing is off.
ALTER TABLE mitigation_requests ADD COLUMN trace_parent text NOT NULL DEFAULT '';
