-- A job's log is a Redis LIST of segments this long (the last one partial): stored byte N is byte
-- N % LOG_SEGMENT_BYTES of element N // LOG_SEGMENT_BYTES, so reads need no index. 64 KiB less the list's
-- own framing, so each full segment fits one allocation. job-store.ts reads with the same number
-- (LOG_SEGMENT_BYTES); a test holds the two equal.
local LOG_SEGMENT_BYTES = 65520
