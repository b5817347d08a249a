-- Naive recursive fib(N). Prints the result and seconds (as ../shared/bench/python/fib.py).
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
local n = tonumber(arg[1]) or 30
local t = os.clock()
local r = fib(n)
print(string.format("fib %d seconds %.3f", r, os.clock() - t))
