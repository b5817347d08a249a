//! The operating system (section 9): `getpid getppid cpu_count env` and the raw
//! process calls `fork waitpid kill`. (`exit` is in core.rs, `args` is set by
//! the host.)
//!
//! `fork`, `waitpid` and `kill` are refused with NotSupported when the host
//! turned `allow_processes` off. `fork` flushes buffered output first (so
//! nothing prints twice) and reseeds the child's random generator (so parent
//! and child do not draw the same numbers).

use crate::value::func::{want_int, want_str};
use crate::value::{Args, Exc, Key, MapData, Value, VmResult};
use crate::vm::Vm;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::sync::atomic::Ordering;

/// Refuses a process builtin when the host turned processes off.
pub fn require_processes(vm: &Vm, fname: &str) -> VmResult<()> {
    if vm.config.allow_processes {
        Ok(())
    } else {
        Err(Exc::new(
            "NotSupported",
            format!(
                "{fname}() is not allowed: the host disabled processes (allow_processes is false)"
            ),
        ))
    }
}

fn process_error(fname: &str, e: Errno) -> Exc {
    Exc::new("ProcessError", format!("{fname}(): {}", e.desc()))
}

/// A pid argument: a positive int that fits a pid_t.
fn pid_arg(fname: &str, v: &Value) -> VmResult<Pid> {
    let pid = want_int(fname, "pid", v)?;
    match i32::try_from(pid) {
        Ok(p) if p > 0 => Ok(Pid::from_raw(p)),
        _ => Err(Exc::value_error(format!(
            "{fname}(): {pid} is not a process id (a positive int)"
        ))),
    }
}

fn getpid(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("getpid", 0, 0)?;
    Ok(Value::Int(nix::unistd::getpid().as_raw() as i64))
}

fn getppid(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("getppid", 0, 0)?;
    Ok(Value::Int(nix::unistd::getppid().as_raw() as i64))
}

/// The CPUs this process may run on (at least 1).
pub fn cpu_count_now() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_count(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("cpu_count", 0, 0)?;
    Ok(Value::Int(cpu_count_now() as i64))
}

/// `env(name, default = nil)`: a variable's value; `env()` gives them all as a map.
fn env(_vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [name, default] = args.bind("env", ["name", "default"], 0)?;
    let Some(name) = super::given(name) else {
        let mut all = MapData::default();
        for (k, v) in std::env::vars_os() {
            all.insert(
                Key::new(Value::string(k.to_string_lossy().into_owned()))?,
                Value::string(v.to_string_lossy().into_owned()),
            );
        }
        return Ok(Value::map(all));
    };
    let name = want_str("env", "name", &name)?;
    if name.is_empty() || name.contains(['=', '\0']) {
        return Ok(default.unwrap_or_default());
    }
    Ok(match std::env::var_os(name) {
        Some(v) => Value::string(v.to_string_lossy().into_owned()),
        None => default.unwrap_or_default(),
    })
}

/// `fork()`: 0 in the child, the child's pid in the parent.
fn fork(vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("fork", 0, 0)?;
    require_processes(vm, "fork")?;
    crate::runtime::process::fork_raw(vm, "fork").map(|pid| Value::Int(pid as i64))
}

/// `waitpid(pid)`: waits for a child to end; its exit status, or minus the
/// number of the signal that killed it.
fn waitpid(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [pid] = args.bind("waitpid", ["pid"], 1)?;
    require_processes(vm, "waitpid")?;
    let pid = pid_arg("waitpid", &pid.unwrap_or_default())?;
    vm.flush();
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Value::Int(code as i64)),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                return Ok(Value::Int(-(signal as i32 as i64)));
            }
            Ok(_) => {}
            Err(Errno::EINTR) => {
                if vm.interrupt.swap(false, Ordering::SeqCst) {
                    return Err(Exc::new("KeyboardInterrupt", "interrupted"));
                }
            }
            Err(Errno::ECHILD) => {
                return Err(Exc::new(
                    "ProcessError",
                    format!(
                        "waitpid(): {pid} is not a child of this process (or was already waited for)"
                    ),
                ));
            }
            Err(e) => return Err(process_error("waitpid", e)),
        }
    }
}

/// `kill(pid, signal = 15)`; signal 0 only checks that the process exists.
fn kill(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [pid, signal] = args.bind("kill", ["pid", "signal"], 1)?;
    require_processes(vm, "kill")?;
    let pid = pid_arg("kill", &pid.unwrap_or_default())?;
    let number = match super::given(signal) {
        Some(s) => want_int("kill", "signal", &s)?,
        None => 15,
    };
    let signal = match number {
        0 => None,
        n => Some(
            i32::try_from(n)
                .ok()
                .and_then(|n| Signal::try_from(n).ok())
                .ok_or_else(|| Exc::value_error(format!("kill(): {n} is not a signal number")))?,
        ),
    };
    match nix::sys::signal::kill(pid, signal) {
        Ok(()) => Ok(Value::Nil),
        Err(Errno::ESRCH) => Err(Exc::new(
            "ProcessError",
            format!("kill(): there is no process {pid}"),
        )),
        Err(e) => Err(process_error("kill", e)),
    }
}

pub const FUNCS: &[(&str, crate::value::NativeFn)] = &[
    ("getpid", getpid),
    ("getppid", getppid),
    ("cpu_count", cpu_count),
    ("env", env),
    ("fork", fork),
    ("waitpid", waitpid),
    ("kill", kill),
];
