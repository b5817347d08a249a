//! Time (section 9): `time()` (seconds since the epoch), `monotonic()` (seconds
//! on a clock that never goes back, shared by all processes of the machine, so
//! values taken in a parent and a child compare), and `sleep(seconds)`.

use crate::value::func::want_f64;
use crate::value::{Args, Exc, Value, VmResult};
use crate::vm::Vm;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn time(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("time", 0, 0)?;
    let since = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    };
    Ok(Value::Float(since))
}

/// Seconds on CLOCK_MONOTONIC.
pub fn monotonic_now() -> f64 {
    use nix::time::{ClockId, clock_gettime};
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(t) => t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9,
        Err(_) => 0.0,
    }
}

fn monotonic(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("monotonic", 0, 0)?;
    Ok(Value::Float(monotonic_now()))
}

/// The duration of `sleep(seconds)`: not negative, not NaN, at most about 31 years.
pub fn seconds_arg(fname: &str, v: &Value) -> VmResult<Duration> {
    let s = want_f64(fname, "seconds", v)?;
    if s.is_nan() || s < 0.0 {
        return Err(Exc::value_error(format!(
            "{fname}() needs a non-negative number of seconds, not {s}"
        )));
    }
    Ok(Duration::try_from_secs_f64(s.min(1e9)).unwrap_or(Duration::from_secs(1_000_000_000)))
}

/// Sleeps: while tasks exist, only the calling task waits (section 15);
/// otherwise the whole process sleeps, waking
/// every so often to honour an interrupt (Ctrl-C, the host's interrupt handle).
fn sleep(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [seconds] = args.bind("sleep", ["seconds"], 1)?;
    let total = seconds_arg("sleep", &seconds.unwrap_or_default())?;
    vm.flush();
    let start = std::time::Instant::now();
    let deadline = start.checked_add(total).unwrap_or(start);
    if vm.tasks_active() {
        // other tasks run meanwhile; sleep(0) lets them run once
        if total.is_zero() {
            return crate::vm::task::pause(vm, Args::new(&[]));
        }
        return vm.block(crate::runtime::reactor::Pending::timer(deadline));
    }
    loop {
        // pool results and callbacks are handled while the script sleeps
        crate::runtime::pool::serve_all(vm)?;
        let now = std::time::Instant::now();
        if now >= deadline {
            return Ok(Value::Nil);
        }
        std::thread::sleep((deadline - now).min(crate::runtime::shm::SLICE));
        if vm.interrupt.swap(false, Ordering::SeqCst) {
            return Err(Exc::new("KeyboardInterrupt", "interrupted"));
        }
    }
}

pub const FUNCS: &[(&str, crate::value::NativeFn)] =
    &[("time", time), ("monotonic", monotonic), ("sleep", sleep)];
