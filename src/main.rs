//! The `proc` command (section 1): a thin client of the library.

use clap::Parser;
use proc_lang::{Error, Interpreter};
use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

#[derive(Parser)]
#[command(
    name = "proc",
    version,
    about = "Run proc scripts: a small language whose processes are real fork()ed processes"
)]
struct Cli {
    /// Run CODE instead of a file
    #[arg(short = 'e', value_name = "CODE", conflicts_with_all = ["check", "disasm"])]
    code: Option<String>,
    /// Parse and compile only; print diagnostics
    #[arg(long)]
    check: bool,
    /// Print the compiled bytecode instead of running
    #[arg(long)]
    disasm: bool,
    /// The script to run (`-` or nothing for standard input)
    file: Option<String>,
    /// Arguments for the script, in `args`
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// The running interpreter's interrupt flag, for the SIGINT handler.
static INTERRUPT: OnceLock<Arc<AtomicBool>> = OnceLock::new();

extern "C" fn on_sigint(_: libc::c_int) {
    // only an atomic load and store: async-signal-safe
    if let Some(flag) = INTERRUPT.get() {
        flag.store(true, Ordering::SeqCst);
    }
}

/// Ctrl-C raises KeyboardInterrupt in the script (children get their own
/// SIGINT from the terminal and end quietly). Not SA_RESTART, so blocking
/// calls return EINTR and notice it. Writing to a closed pipe is an IOError,
/// not death by SIGPIPE.
fn install_signal_handlers(flag: Arc<AtomicBool>) {
    let _ = INTERRUPT.set(flag);
    // SAFETY: the handler only touches an atomic; the sigaction struct is
    // fully initialised.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn main() {
    let cli = Cli::parse();
    let code = run(cli);
    // Everything is flushed and every child joined (`leave`): end at once,
    // without the runtime's and the C library's teardown, which in a forked
    // child costs copy-on-write faults for nothing.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit only ends the process; nothing is left to run or flush.
    unsafe { libc::_exit(code.clamp(0, 255)) }
}

fn report(interp: &mut Interpreter, e: &Error) -> i32 {
    interp.flush();
    if !matches!(e, Error::Exit { .. }) {
        eprint!("{e}");
    }
    e.exit_code()
}

fn run(cli: Cli) -> i32 {
    let mut interp = Interpreter::new();
    install_signal_handlers(interp.interrupt_flag());
    // with -e, the "file" position is the first script argument
    let (name, text, script_args) = if let Some(code) = cli.code {
        let mut args: Vec<String> = cli.file.into_iter().collect();
        args.extend(cli.args);
        ("<-e>".to_string(), Ok(code.into_bytes()), args)
    } else {
        match cli.file.as_deref() {
            None | Some("-") if cli.file.is_some() || !std::io::stdin().is_terminal() => {
                let mut buf = Vec::new();
                let r = std::io::stdin().read_to_end(&mut buf).map(|_| buf);
                ("<stdin>".to_string(), r, cli.args)
            }
            None => {
                interp.set_args(cli.args);
                return proc_lang::repl::run(interp);
            }
            Some(path) => (path.to_string(), std::fs::read(path), cli.args),
        }
    };
    let bytes = match text {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: IOError: cannot read {name}: {e}");
            return 1;
        }
    };
    interp.set_args(script_args);
    let source = match Interpreter::source_from_bytes(&name, bytes) {
        Ok(s) => s,
        Err(e) => return report(&mut interp, &e),
    };
    if let Some(dir) = std::path::Path::new(&name).parent() {
        interp.set_script_dir(dir);
    }
    let result = if cli.check {
        interp.check(&source)
    } else if cli.disasm {
        interp.disassemble(&source).map(|text| print!("{text}"))
    } else {
        interp.run_source(&source.name.clone(), &source.text.clone())
    };
    let code = match result {
        Ok(()) => {
            interp.flush();
            0
        }
        Err(e) => report(&mut interp, &e),
    };
    leave(interp);
    code
}

/// The end of a run: children joined (as dropping the interpreter would do),
/// but the heap is not freed object by object, since the system takes the
/// whole address space back at once. In a forked child (`fork()` ... `exit()`)
/// every page those destructors touched would first be copied
/// (copy-on-write): about 20 faults and 40 us per child.
fn leave(mut interp: Interpreter) {
    interp.join_children();
    interp.flush();
    std::mem::forget(interp);
}
