package ratelimit

import (
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// keyPrefix is what redis_rate puts before every key; kept, so the keys
// (and the budgets in them) are the ones the gateway always used.
const keyPrefix = "rate:"

// gcraScript is github.com/go-redis/redis_rate/v10's allowN script,
// verbatim (the same text, hence the same SHA1 for EVALSHA), so that a
// decision is exactly the one redis_rate.Limiter.Allow takes: the limiter
// sends it in pipelines of several checks (coalesce.go), which redis_rate
// cannot. TestSameDecisionsAsRedisRate holds the two to the same answers.
//
// Copyright (c) 2013 The github.com/go-redis/redis_rate Authors (BSD-2-Clause);
// the script itself: Copyright (c) 2017 Pavel Pravosud,
// https://github.com/rwz/redis-gcra/blob/master/vendor/perform_gcra_ratelimit.lua
var gcraScript = redis.NewScript(`
-- this script has side-effects, so it requires replicate commands mode
redis.replicate_commands()

local rate_limit_key = KEYS[1]
local burst = ARGV[1]
local rate = ARGV[2]
local period = ARGV[3]
local cost = tonumber(ARGV[4])

local emission_interval = period / rate
local increment = emission_interval * cost
local burst_offset = emission_interval * burst

-- redis returns time as an array containing two integers: seconds of the epoch
-- time (10 digits) and microseconds (6 digits). for convenience we need to
-- convert them to a floating point number. the resulting number is 16 digits,
-- bordering on the limits of a 64-bit double-precision floating point number.
-- adjust the epoch to be relative to Jan 1, 2017 00:00:00 GMT to avoid floating
-- point problems. this approach is good until "now" is 2,483,228,799 (Wed, 09
-- Sep 2048 01:46:39 GMT), when the adjusted value is 16 digits.
local jan_1_2017 = 1483228800
local now = redis.call("TIME")
now = (now[1] - jan_1_2017) + (now[2] / 1000000)

local tat = redis.call("GET", rate_limit_key)

if not tat then
  tat = now
else
  tat = tonumber(tat)
end

tat = math.max(tat, now)

local new_tat = tat + increment
local allow_at = new_tat - burst_offset

local diff = now - allow_at
local remaining = diff / emission_interval

if remaining < 0 then
  local reset_after = tat - now
  local retry_after = diff * -1
  return {
    0, -- allowed
    0, -- remaining
    tostring(retry_after),
    tostring(reset_after),
  }
end

local reset_after = new_tat - now
if reset_after > 0 then
  redis.call("SET", rate_limit_key, new_tat, "EX", math.ceil(reset_after))
end
local retry_after = -1
return {cost, remaining, tostring(retry_after), tostring(reset_after)}
`)

// check is one GCRA decision: take one request from the bucket key, which
// holds burst requests and refills at rate per period.
type check struct {
	key    string // with keyPrefix
	burst  int
	rate   int
	period time.Duration
}

// args are the script's ARGV, as redis_rate sends them (cost 1).
func (c check) args() []any { return []any{c.burst, c.rate, c.period.Seconds(), 1} }

// gcraResult is the script's answer (redis_rate.Result without the limit).
type gcraResult struct {
	Allowed, Remaining     int
	RetryAfter, ResetAfter time.Duration
}

// parseResult reads the script's reply as redis_rate.Limiter.AllowN does.
func parseResult(v any) (gcraResult, error) {
	vals, ok := v.([]any)
	if !ok || len(vals) != 4 {
		return gcraResult{}, fmt.Errorf("ratelimit: unexpected GCRA reply %v", v)
	}
	allowed, ok1 := vals[0].(int64)
	remaining, ok2 := vals[1].(int64)
	retry, ok3 := vals[2].(string)
	reset, ok4 := vals[3].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return gcraResult{}, fmt.Errorf("ratelimit: unexpected GCRA reply %v", v)
	}
	retryAfter, err := strconv.ParseFloat(retry, 64)
	if err != nil {
		return gcraResult{}, err
	}
	resetAfter, err := strconv.ParseFloat(reset, 64)
	if err != nil {
		return gcraResult{}, err
	}
	return gcraResult{Allowed: int(allowed), Remaining: int(remaining), RetryAfter: dur(retryAfter), ResetAfter: dur(resetAfter)}, nil
}

// dur converts the script's seconds as redis_rate does: -1 stays -1 ns.
func dur(f float64) time.Duration {
	if f == -1 {
		return -1
	}
	return time.Duration(f * float64(time.Second))
}
