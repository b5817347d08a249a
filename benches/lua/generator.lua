-- Resume a coroutine N times (as ../shared/bench/python/generator.py).
local function gen()
  local i = 0
  while true do
    coroutine.yield(i)
    i = i + 1
  end
end
local n = tonumber(arg[1]) or 1000000
local g = coroutine.wrap(gen)
local t = os.clock()
local s = 0
for _ = 1, n do
  s = s + g()
end
assert(s == n * (n - 1) // 2)
print(string.format("generator_resumes_per_s %.0f", n / (os.clock() - t)))
