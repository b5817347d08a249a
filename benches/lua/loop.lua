-- Sum the integers below N in a plain while-loop (as ../shared/bench/python/loop.py).
local function main(n)
  local s = 0
  local i = 0
  while i < n do
    s = s + i
    i = i + 1
  end
  return s
end
local n = tonumber(arg[1]) or 10000000
local t = os.clock()
local r = main(n)
print(string.format("loop %d seconds %.3f", r, os.clock() - t))
