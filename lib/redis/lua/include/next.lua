--[[
  The next job, queues in priority order: next_job(k), used by rqTake, rqFinish and rqFail.

  The KEYS block from index k: rq:suspended, worker, job key A, job keys B1, B2 (any key when
  unused), A's execution hash and executions set (protocol 2; any key when nextExecId is ''),
  queue 1..n, intermediate 1..n, wip 1..n.

  ARGV
    nextMode               'none' | 'claim-head' | 'start-held' | 'start-held-read' (below)
    nextId                 id A
    nextQueue              A's queue, 1..n
    peeked1                id B1 ('' = none)
    peeked2                id B2 ('' = none)
    claimedAt              now, rq timestamp (the job's started_at; scores come from Redis's clock)
    jobMonitoringInterval  seconds
    workerName             the worker's name
    claimMode              'inline' | 'process': how claim() computes the heartbeat TTL
    takeAhead              how many to take ahead: '0' | '1' | '2'
    nextExecId             the execution id A is claimed under (protocol 2), '' for protocol 1
    peekCount              how many queue heads the reply lists (the peeked ids of the next calls)
    nextTtl                'start-held': A's heartbeat TTL, as the worker computed it from the hash it
                           holds ('' = claim() computes it from the timeout in Redis)

  'claim-head': A is the id peeked at the last call. When the first non-empty queue's head is A,
  the job is popped and claimed right here (one round trip per job for a busy worker); otherwise the
  head is LMOVEd into its intermediate list for rqClaim: it is never only in a worker's memory.
  'start-held' / 'start-held-read': A is the job this worker took ahead (it waits in A's
  intermediate list); it is claimed ('start-held-read' also returns its hash). The worker may already
  be running it: a job taken ahead is started whatever happened meanwhile, unless its hash is gone.
  Taking ahead (after a claim or start, not while suspended) LMOVEs the next heads into their
  intermediate lists, each with its hash when it is B1 or B2, ids peeked at an earlier call.

  Reply: {'suspended'} | {'empty'} | {'taken', i, id}
       | {'claimed'|'started'|'gone'|'lost', i, id, ttl, hash, peeked ids, ahead}
  where ahead is a list of {i, id, hash or false}, in the order taken; false for 'none'.

  Replays. A call whose reply was lost (the connection dropped after Redis ran it) is sent again
  with the same token and must not run twice: the worker hash keeps, per slot, the token of a call
  that changed something and a summary of what it did (next_summary), from which a repeat rebuilds
  the same reply (next_rebuild). A token ends in `-<slot>-<sequence number>`: the worker picks the
  slot from its sequence number among more slots than it can have calls with tokens in flight (4 for
  one job at a time: two outcome scripts, and the failure written for one that Redis refused; 2N + 2
  for N concurrent jobs), so a slot is not reused while its call may be sent again.
]]
-- @include claim
-- @include typeCheck
-- whether rq:suspended (KEYS[k]) exists, read once per script call
local suspended_cached
local function suspended(k)
  if suspended_cached == nil then suspended_cached = redis.call('EXISTS', KEYS[k]) == 1 end
  return suspended_cached
end
local function take_ahead(k, q0, n)
  local ahead = {}
  local want = tonumber(takeAhead) or 0
  if want == 0 or suspended(k) then return ahead end
  for i = 1, n do
    while #ahead < want do
      local head = redis.call('LMOVE', KEYS[q0 + i - 1], KEYS[q0 + n + i - 1], 'LEFT', 'RIGHT')
      if not head then break end
      local hash = false
      for b = 1, 2 do
        local peeked = peeked1
        if b == 2 then peeked = peeked2 end
        if head == peeked then
          -- pcall: a key of another type (a stranger's) reads as no hash, as a missing one
          local h = redis.pcall('HGETALL', KEYS[k + 2 + b])
          if not h.err and #h > 0 then hash = h end
          break
        end
      end
      ahead[#ahead + 1] = {i, head, hash}
    end
  end
  return ahead
end
local function take_next(k)
  if suspended(k) then return {'suspended'} end
  local n = (#KEYS - k - 6) / 3
  local q0 = k + 7
  for i = 1, n do
    local head = redis.call('LINDEX', KEYS[q0 + i - 1], 0)
    if head then
      if head == nextId and select(2, expect_type(KEYS[k + 2], 'hash')) == 'hash' then
        redis.call('LPOP', KEYS[q0 + i - 1])
        local ttl, hash = claim(KEYS[k + 2], KEYS[q0 + 2 * n + i - 1], KEYS[k + 1], head, claimedAt, tonumber(jobMonitoringInterval), workerName, claimMode, true, nextExecId, KEYS[k + 5], KEYS[k + 6])
        local ahead = take_ahead(k, q0, n)
        return {'claimed', i, head, ttl, hash, peek(q0, n, peekCount), ahead}
      end
      local id = redis.call('LMOVE', KEYS[q0 + i - 1], KEYS[q0 + n + i - 1], 'LEFT', 'RIGHT')
      return {'taken', i, id}
    end
  end
  return {'empty'}
end
local recorded_statuses = {finished = true, failed = true, stopped = true}
local function start_held(k, want_hash)
  local n = (#KEYS - k - 6) / 3
  local q0 = k + 7
  local i = tonumber(nextQueue)
  local id = nextId
  local job_key = KEYS[k + 2]
  local kind, ttl, hash = 'started', false, false
  local mine = redis.call('LREM', KEYS[q0 + n + i - 1], '1', id) == 1
  if select(2, expect_type(job_key, 'hash')) ~= 'hash' then
    kind = 'gone'
  elseif not mine and redis.call('HGET', job_key, 'worker_name') == workerName and redis.call('HGET', job_key, 'status') == 'started' then
    -- a retried call whose first attempt went through
    if want_hash then hash = redis.call('HGETALL', job_key) end
  elseif not mine and not want_hash and recorded_statuses[redis.call('HGET', job_key, 'status')] then
    -- launched by this call (the worker ran it without waiting for the reply), and its outcome, which
    -- takes it out of the intermediate list, got to Redis first: this call was held up by an outage
    -- and retried. Nothing to claim.
  else
    -- not in the intermediate list any more: maintenance put it back in its queue after a long
    -- stall; taking it out again keeps it from running twice
    if not mine then mine = redis.call('LREM', KEYS[q0 + i - 1], '1', id) == 1 end
    if mine then
      ttl, hash = claim(job_key, KEYS[q0 + 2 * n + i - 1], KEYS[k + 1], id, claimedAt, tonumber(jobMonitoringInterval), workerName, claimMode, want_hash, nextExecId, KEYS[k + 5], KEYS[k + 6], tonumber(nextTtl))
    else
      kind = 'lost'
    end
  end
  local ahead = take_ahead(k, q0, n)
  return {kind, i, id, ttl, hash, peek(q0, n, peekCount), ahead}
end
local function next_job(k)
  claim_deferred = true
  if nextMode == 'claim-head' then return take_next(k) end
  if nextMode == 'start-held' or nextMode == 'start-held-read' then return start_held(k, nextMode == 'start-held-read') end
  return false
end
local function next_summary(r)
  if not r then return {} end
  local s = {kind = r[1]}
  if r[2] then s.i = r[2]; s.id = r[3] end
  if r[4] then s.ttl = r[4] end
  if r[5] then s.h = true end
  if r[7] then
    s.a = {}
    for j, e in ipairs(r[7]) do
      local slot = 0
      if e[3] then
        if e[2] == peeked1 then slot = 1 else slot = 2 end
      end
      s.a[j] = {e[1], e[2], slot}
    end
  end
  return s
end
local function next_rebuild(k, s)
  if not s.kind then return false end
  if s.kind == 'suspended' or s.kind == 'empty' then return {s.kind} end
  if s.kind == 'taken' then return {'taken', s.i, s.id} end
  local n = (#KEYS - k - 6) / 3
  local hash = false
  if s.h then hash = redis.call('HGETALL', KEYS[k + 2]) end
  local ahead = {}
  for j, e in ipairs(s.a or {}) do
    local h = false
    if e[3] > 0 then h = redis.call('HGETALL', KEYS[k + 2 + e[3]]) end
    ahead[j] = {e[1], e[2], h}
  end
  return {s.kind, s.i, s.id, s.ttl or false, hash, peek(k + 7, n, peekCount), ahead}
end
local function call_slot(token)
  return 'rqts_call' .. (string.match(token, '(%d+)%-%d+$') or '0')
end
-- replayed(worker_key, token): the summary a call with this token saved, or nil; and the error
-- reply when the worker's key holds another type (the HGET is the script's first command, under
-- pcall: it checks the worker hash's type, so that outcome scripts need no other check of it).
local function replayed(worker_key, token)
  if token == '' then return nil end
  local v = redis.pcall('HGET', worker_key, call_slot(token))
  if type(v) == 'table' then return nil, (wrong_type(worker_key, 'hash')) end
  if not v or string.sub(v, 1, #token + 1) ~= token .. ' ' then return nil end
  local ok, saved = pcall(cjson.decode, string.sub(v, #token + 2))
  if ok and type(saved) == 'table' then return saved end
  return nil
end
-- remember(worker_key, token, saved, worker_written): saves the replay summary, and writes what a
-- claim of next_job() deferred (include/claim.lua), in one HSET. Every script that calls next_job()
-- ends with it. worker_written: this call wrote the worker hash already (an outcome script's counts),
-- so it exists.
local function remember(worker_key, token, saved, worker_written)
  local fields = worker_busy or {}
  if token ~= '' and (worker_written or worker_busy or redis.call('EXISTS', worker_key) == 1) then
    fields[#fields + 1] = call_slot(token)
    fields[#fields + 1] = token .. ' ' .. cjson.encode(saved)
  end
  if #fields > 0 then redis.call('HSET', worker_key, unpack(fields)) end
  if worker_busy then redis.call('EXPIRE', worker_key, int(worker_busy_ttl)) end
end
