--[[
  The next job, queues in priority order: next_job(k), used by rqTake, rqFinish and rqFail.

  The KEYS block from index k: rq:suspended, worker, job key A, A's execution hash and executions
  set (protocol 2; any key when nextExecId is ''), queue 1..n, intermediate 1..n, wip 1..n.

  ARGV
    nextMode               'none' | 'claim-head' | 'start-held' | 'start-held-read' (below)
    nextId                 id A
    nextQueue              A's queue, 1..n
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
  intermediate list); it is claimed. With 'start-held' the worker may already be running it (it
  knows A's hash): a job taken ahead is started whatever happened meanwhile, unless its hash is gone.
  Taking ahead (after a claim or start, not while suspended) LMOVEs the next heads into their
  intermediate lists.

  No job hash is read here. The worker reads those it needs (A's when it has not got it, the heads
  it expects to be taken ahead) with HGETALL sent right behind the script on the same connection
  (lib/Lookahead.ts), which Redis runs next: a hash read inside the script is turned into Lua
  strings and back into the script's reply, which cost Redis more than the command itself.

  Reply: {'suspended'} | {'empty'} | {'taken', i, id}
       | {'claimed'|'started'|'gone'|'lost', i, id, ttl, peeked ids, ahead}
  where ahead lists the jobs taken ahead, in order, as i1, id1, i2, id2, ...; false for 'none'.

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
  local taken = 0
  for i = 1, n do
    while taken < want do
      local head = redis.call('LMOVE', KEYS[q0 + i - 1], KEYS[q0 + n + i - 1], 'LEFT', 'RIGHT')
      if not head then break end
      taken = taken + 1
      ahead[2 * taken - 1] = i
      ahead[2 * taken] = head
    end
  end
  return ahead
end
local function take_next(k)
  if suspended(k) then return {'suspended'} end
  local n = (#KEYS - k - 4) / 3
  local q0 = k + 5
  for i = 1, n do
    local head = redis.call('LINDEX', KEYS[q0 + i - 1], 0)
    if head then
      if head == nextId and select(2, expect_type(KEYS[k + 2], 'hash')) == 'hash' then
        redis.call('LPOP', KEYS[q0 + i - 1])
        local ttl = claim(KEYS[k + 2], KEYS[q0 + 2 * n + i - 1], KEYS[k + 1], head, claimedAt, tonumber(jobMonitoringInterval), workerName, claimMode, nextExecId, KEYS[k + 3], KEYS[k + 4])
        local ahead = take_ahead(k, q0, n)
        return {'claimed', i, head, ttl, peek(q0, n, peekCount), ahead}
      end
      local id = redis.call('LMOVE', KEYS[q0 + i - 1], KEYS[q0 + n + i - 1], 'LEFT', 'RIGHT')
      return {'taken', i, id}
    end
  end
  return {'empty'}
end
local recorded_statuses = {finished = true, failed = true, stopped = true}
local function start_held(k, launched)
  local n = (#KEYS - k - 4) / 3
  local q0 = k + 5
  local i = tonumber(nextQueue)
  local id = nextId
  local job_key = KEYS[k + 2]
  local kind, ttl = 'started', false
  local mine = redis.call('LREM', KEYS[q0 + n + i - 1], '1', id) == 1
  if select(2, expect_type(job_key, 'hash')) ~= 'hash' then
    kind = 'gone'
  elseif not mine and redis.call('HGET', job_key, 'worker_name') == workerName and redis.call('HGET', job_key, 'status') == 'started' then
    -- a retried call whose first attempt went through
  elseif not mine and launched and recorded_statuses[redis.call('HGET', job_key, 'status')] then
    -- launched by this call (the worker ran it without waiting for the reply), and its outcome, which
    -- takes it out of the intermediate list, got to Redis first: this call was held up by an outage
    -- and retried. Nothing to claim.
  else
    -- not in the intermediate list any more: maintenance put it back in its queue after a long
    -- stall; taking it out again keeps it from running twice
    if not mine then mine = redis.call('LREM', KEYS[q0 + i - 1], '1', id) == 1 end
    if mine then
      ttl = claim(job_key, KEYS[q0 + 2 * n + i - 1], KEYS[k + 1], id, claimedAt, tonumber(jobMonitoringInterval), workerName, claimMode, nextExecId, KEYS[k + 3], KEYS[k + 4], tonumber(nextTtl))
    else
      kind = 'lost'
    end
  end
  local ahead = take_ahead(k, q0, n)
  return {kind, i, id, ttl, peek(q0, n, peekCount), ahead}
end
local function next_job(k)
  claim_deferred = true
  if nextMode == 'claim-head' then return take_next(k) end
  if nextMode == 'start-held' or nextMode == 'start-held-read' then return start_held(k, nextMode == 'start-held') end
  return false
end
local function next_summary(r)
  if not r then return {} end
  local s = {kind = r[1]}
  if r[2] then s.i = r[2]; s.id = r[3] end
  if r[4] then s.ttl = r[4] end
  if r[6] and #r[6] > 0 then s.a = r[6] end
  return s
end
local function next_rebuild(k, s)
  if not s.kind then return false end
  if s.kind == 'suspended' or s.kind == 'empty' then return {s.kind} end
  if s.kind == 'taken' then return {'taken', s.i, s.id} end
  local n = (#KEYS - k - 4) / 3
  return {s.kind, s.i, s.id, s.ttl or false, peek(k + 5, n, peekCount), s.a or {}}
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
