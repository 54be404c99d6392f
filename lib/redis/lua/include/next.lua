--[[
  The next job, queues in priority order: next_job(k), used by rqTake, rqFinish and rqFail.

  The KEYS block from index k: rq:suspended, worker, job key A, A's execution hash and executions
  set (protocol 2; any key when nextExecId is ''), queue 1..n, intermediate 1..n, wip 1..n.

  ARGV
    nextMode               'none' | 'claim-head' | 'start-held' | 'start-held-read' | 'take-ahead' (below)
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
  'take-ahead': no job is claimed; jobs are only taken ahead (a SimpleWorker's group commit runs
  them from their intermediate lists: GroupCommit in plugins/CleanupPlugin.ts). The reply's kind is 'ahead', with queue 0
  and an empty id.
  Taking ahead (after a claim or start, or alone; not while suspended) LMOVEs the next heads into
  their intermediate lists.

  No job hash is read here. The worker reads those it needs (A's when it has not got it, the heads
  it expects to be taken ahead) with HGETALL sent right behind the script on the same connection
  (lib/Lookahead.ts), which Redis runs next: a hash read inside the script is turned into Lua
  strings and back into the script's reply, which cost Redis more than the command itself.

  Reply, appended to the caller's reply table (one flat list: each table in a script's reply costs
  Redis seven probes for the special replies): nothing for 'none', {'suspended'} | {'empty'} |
  {'taken', i, id} | {'claimed'|'started'|'gone'|'lost'|'ahead', i, id, t, ahead, peeked ids}, where ahead
  lists the t jobs taken ahead, in order, as i1, id1, i2, id2, ..., and the peeked ids (the queue
  heads after them) run to the end.

  Replays. A call whose reply was lost (the connection dropped after Redis ran it) is sent again
  with the same token and must not run twice: the worker hash keeps, per slot, the token of a call
  that changed something and a summary of what it did (next_summary), from which a repeat rebuilds
  the same reply (next_rebuild). A token is `<slot>-<worker's prefix>-<sequence number>`: the worker
  picks the slot from its sequence number (4 slots for one job at a time: two outcome scripts, and
  the failure written for one that Redis refused; 2N + 2 for N concurrent jobs; 10 for a
  SimpleWorker's group commit, lib/Lookahead.ts replaySlots) and sends a call only once the call
  before it in its slot has been answered (lib/Lookahead.ts windowed()), so a slot is not reused
  while its call may be sent again: a call whose reply was lost is sent again after every call sent
  behind it, which Redis may have run too.
  The slot comes first so that an anchored pattern finds it (an unanchored one is tried from every
  position of the token: ~5,000 instructions a call in callgrind, against ~1,000).
]]
-- @include claim
-- @include typeCheck
-- whether rq:suspended (KEYS[k]) exists, read once per script call
local suspended_cached
local function suspended(k)
  if suspended_cached == nil then suspended_cached = redis.call('EXISTS', KEYS[k]) == 1 end
  return suspended_cached
end
-- take_ahead(k, q0, n, reply): appends to `reply` each job taken ahead, as its queue and id;
-- returns how many
local function take_ahead(k, q0, n, reply)
  local want = tonumber(takeAhead) or 0
  if want == 0 or suspended(k) then return 0 end
  local taken = 0
  for i = 1, n do
    while taken < want do
      local head = redis.call('LMOVE', KEYS[q0 + i - 1], KEYS[q0 + n + i - 1], 'LEFT', 'RIGHT')
      if not head then break end
      taken = taken + 1
      reply[#reply + 1] = i
      reply[#reply + 1] = head
    end
  end
  return taken
end
-- started(k, q0, n, reply, kind, i, id): the reply of a call that claimed or started job `id` of
-- queue i (or found it gone or lost): then the jobs taken ahead, counted, and the heads after them
local function started(k, q0, n, reply, kind, i, id)
  reply[#reply + 1] = kind
  reply[#reply + 1] = i
  reply[#reply + 1] = id
  local at = #reply + 1
  reply[at] = 0
  reply[at] = take_ahead(k, q0, n, reply)
  peek(q0, n, peekCount, reply)
  return reply
end
local function take_next(k, reply)
  if suspended(k) then
    reply[#reply + 1] = 'suspended'
    return reply
  end
  local n = (#KEYS - k - 4) / 3
  local q0 = k + 5
  for i = 1, n do
    local head = redis.call('LINDEX', KEYS[q0 + i - 1], 0)
    if head then
      if head == nextId and select(2, expect_type(KEYS[k + 2], 'hash')) == 'hash' then
        redis.call('LPOP', KEYS[q0 + i - 1])
        claim(KEYS[k + 2], KEYS[q0 + 2 * n + i - 1], KEYS[k + 1], head, claimedAt, jobMonitoringInterval, workerName, claimMode, nextExecId, KEYS[k + 3], KEYS[k + 4])
        return started(k, q0, n, reply, 'claimed', i, head)
      end
      reply[#reply + 1] = 'taken'
      reply[#reply + 1] = i
      reply[#reply + 1] = redis.call('LMOVE', KEYS[q0 + i - 1], KEYS[q0 + n + i - 1], 'LEFT', 'RIGHT')
      return reply
    end
  end
  reply[#reply + 1] = 'empty'
  return reply
end
local recorded_statuses = {finished = true, failed = true, stopped = true} -- constant
local function start_held(k, launched, reply)
  local n = (#KEYS - k - 4) / 3
  local q0 = k + 5
  local i = tonumber(nextQueue)
  local id = nextId
  local job_key = KEYS[k + 2]
  local kind = 'started'
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
      claim(job_key, KEYS[q0 + 2 * n + i - 1], KEYS[k + 1], id, claimedAt, jobMonitoringInterval, workerName, claimMode, nextExecId, KEYS[k + 3], KEYS[k + 4], tonumber(nextTtl))
    else
      kind = 'lost'
    end
  end
  return started(k, q0, n, reply, kind, i, id)
end
-- next_job(k, reply): appends the NEXT block's reply to `reply` (nothing for 'none')
local function next_job(k, reply)
  claim_deferred = true
  if nextMode == 'claim-head' then return take_next(k, reply) end
  if nextMode == 'start-held' or nextMode == 'start-held-read' then return start_held(k, nextMode == 'start-held', reply) end
  if nextMode == 'take-ahead' then return started(k, k + 5, (#KEYS - k - 4) / 3, reply, 'ahead', 0, '') end
  return reply
end
--[[
  next_summary(outcome, reply, from): what remember() keeps of a call for a replay, as text (no
  cjson: encoding a table cost more than the rest of the summary), from the NEXT reply at
  reply[from]: `<outcome> -` (no next job), `<outcome> suspended|empty`, else
  `<outcome> <kind> <i> <length>:<id>` and ` <i> <length>:<id>` per job taken ahead (an id's length
  before it, so that an id may hold any byte). rqTake's outcome is '-'. Read by replayed() and by
  the worker (lib/Lookahead.ts parseSummary).
]]
local function next_summary(outcome, reply, from)
  local kind = reply[from]
  if not kind then return outcome .. ' -' end
  if kind == 'suspended' or kind == 'empty' then return outcome .. ' ' .. kind end
  local id = reply[from + 2]
  local text = string.format('%s %s %d %d:', outcome, kind, reply[from + 1], #id) .. id
  if kind == 'taken' then return text end
  for j = from + 4, from + 3 + 2 * reply[from + 3], 2 do
    id = reply[j + 1]
    text = text .. string.format(' %d %d:', reply[j], #id) .. id
  end
  return text
end
-- parse_summary(text): next_summary's text as {o = outcome, kind, i, id, ahead = {i, id, ...}}, or nil
local function parse_summary(text)
  local outcome, kind, at = string.match(text, '^(%S+) (%S+)()')
  if not outcome then return nil end
  local s = {o = outcome, kind = kind, ahead = {}}
  if kind == '-' or kind == 'suspended' or kind == 'empty' then return s end
  local first = true
  while at <= #text do
    local i, len, from = string.match(text, '^ (%d+) (%d+):()', at)
    if not i then return nil end
    local id = string.sub(text, from, from + len - 1)
    at = from + len
    if first then
      s.i, s.id, first = tonumber(i), id, false
    else
      s.ahead[#s.ahead + 1] = tonumber(i)
      s.ahead[#s.ahead + 1] = id
    end
  end
  if first then return nil end
  return s
end
-- next_rebuild(k, s, reply): appends to `reply` the NEXT reply a call summarised as `s` gave
local function next_rebuild(k, s, reply)
  if s.kind == '-' then return reply end
  reply[#reply + 1] = s.kind
  if s.kind == 'suspended' or s.kind == 'empty' then return reply end
  reply[#reply + 1] = s.i
  reply[#reply + 1] = s.id
  if s.kind == 'taken' then return reply end
  reply[#reply + 1] = #s.ahead / 2
  for _, v in ipairs(s.ahead) do reply[#reply + 1] = v end
  peek(k + 5, (#KEYS - k - 4) / 3, peekCount, reply)
  return reply
end
-- the worker hash's field of this call's slot, found once per script call
local slot_field
local function call_slot(token)
  if not slot_field then slot_field = 'rqts_call' .. (string.match(token, '^%d+') or '0') end
  return slot_field
end
-- replayed(worker_key, token): the summary a call with this token saved (parse_summary), or nil;
-- and the error reply when the worker's key holds another type (the HGET is the script's first
-- command, under pcall: it checks the worker hash's type, so that outcome scripts need no other
-- check of it).
local function replayed(worker_key, token)
  if token == '' then return nil end
  local v = redis.pcall('HGET', worker_key, call_slot(token))
  if type(v) == 'table' then return nil, (wrong_type(worker_key, 'hash')) end
  if not v or string.sub(v, 1, #token + 1) ~= token .. ' ' then return nil end
  return parse_summary(string.sub(v, #token + 2))
end
-- remember(worker_key, token, summary, worker_written): saves the replay summary (next_summary's
-- text), and writes what a claim of next_job() deferred (include/claim.lua), in one HSET. Every
-- script that calls next_job() ends with it. worker_written: this call wrote the worker hash already
-- (an outcome script's counts), so it exists.
local function remember(worker_key, token, summary, worker_written)
  local fields = worker_busy or {}
  if token ~= '' and (worker_written or worker_busy or redis.call('EXISTS', worker_key) == 1) then
    fields[#fields + 1] = call_slot(token)
    fields[#fields + 1] = token .. ' ' .. summary
  end
  if #fields > 0 then redis.call('HSET', worker_key, unpack(fields)) end
  if worker_busy then redis.call('EXPIRE', worker_key, int(worker_busy_ttl)) end
end
