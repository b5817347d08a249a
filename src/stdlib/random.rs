//! Random numbers: `random() uniform randint choice shuffle seed` (section 9).
//! xoshiro256** seeded from the OS; every forked child reseeds itself so that
//! children do not repeat their parent's sequence.

use crate::value::{Args, Exc, Value, VmResult, func::want_f64, func::want_int};
use crate::vm::Vm;

pub struct Rng {
    s: [u64; 4],
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    pub fn from_seed(seed: u64) -> Rng {
        let mut x = seed;
        Rng {
            s: [
                splitmix(&mut x),
                splitmix(&mut x),
                splitmix(&mut x),
                splitmix(&mut x),
            ],
        }
    }

    /// Seeded from the clock, the pid and an address: unpredictable enough for
    /// scripts, and different in every process.
    pub fn from_entropy() -> Rng {
        let mut seed = [0u8; 8];
        // SAFETY: getrandom writes at most `seed.len()` bytes into `seed`.
        let got = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
        let from_os = got == seed.len() as isize;
        let mut x = u64::from_le_bytes(seed);
        if !from_os {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            x = t ^ ((std::process::id() as u64) << 32) ^ (&seed as *const _ as u64);
        }
        Rng::from_seed(x)
    }

    /// A new sequence for a forked child, without a system call: the parent's
    /// state mixed with the child's pid, so siblings differ from each other
    /// and from their parent.
    pub fn for_child(&mut self, pid: u32) -> Rng {
        Rng::from_seed(self.next_u64() ^ (pid as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    pub fn next_u64(&mut self) -> u64 {
        let r = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        r
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) without modulo bias; n > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX - n + 1) % n;
        loop {
            let v = self.next_u64();
            if v <= zone {
                return v % n;
            }
        }
    }
}

fn random(vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("random", 0, 0)?;
    Ok(Value::Float(vm.rng.next_f64()))
}

fn uniform(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [a, b] = args.bind("uniform", ["a", "b"], 2)?;
    let a = want_f64("uniform", "a", a.as_ref().unwrap_or(&Value::Nil))?;
    let b = want_f64("uniform", "b", b.as_ref().unwrap_or(&Value::Nil))?;
    Ok(Value::Float(a + (b - a) * vm.rng.next_f64()))
}

fn randint(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [a, b] = args.bind("randint", ["a", "b"], 2)?;
    let a = want_int("randint", "a", a.as_ref().unwrap_or(&Value::Nil))?;
    let b = want_int("randint", "b", b.as_ref().unwrap_or(&Value::Nil))?;
    if b < a {
        return Err(Exc::value_error(format!("randint({a}, {b}): empty range")));
    }
    let span = (b as i128 - a as i128 + 1) as u128;
    let r = if span > u64::MAX as u128 {
        vm.rng.next_u64() as i128
    } else {
        vm.rng.below(span as u64) as i128
    };
    Ok(Value::Int((a as i128 + r) as i64))
}

fn choice(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [xs] = args.bind("choice", ["xs"], 1)?;
    let items = vm.collect(xs.as_ref().unwrap_or(&Value::Nil))?;
    if items.is_empty() {
        return Err(Exc::new("IndexError", "choice() from an empty sequence"));
    }
    let i = vm.rng.below(items.len() as u64) as usize;
    Ok(items[i].clone())
}

fn shuffle(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [xs] = args.bind("shuffle", ["xs"], 1)?;
    match xs {
        Some(Value::List(l)) => {
            let mut l = l.borrow_mut();
            for i in (1..l.len()).rev() {
                let j = vm.rng.below(i as u64 + 1) as usize;
                l.swap(i, j);
            }
            Ok(Value::Nil)
        }
        Some(other) => Err(Exc::type_error(format!(
            "shuffle() needs a list, not {}",
            other.type_name()
        ))),
        None => Ok(Value::Nil),
    }
}

fn seed(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [n] = args.bind("seed", ["n"], 0)?;
    vm.rng = match n {
        None | Some(Value::Nil) => Rng::from_entropy(),
        Some(v) => {
            let s = match &v {
                Value::Int(i) => *i as u64,
                Value::Float(f) => f.to_bits(),
                Value::Str(s) => crate::value::map::hash_value(&Value::Str(s.clone())).unwrap_or(0),
                other => {
                    return Err(Exc::type_error(format!(
                        "seed() needs an int, float or str, not {}",
                        other.type_name()
                    )));
                }
            };
            Rng::from_seed(s)
        }
    };
    Ok(Value::Nil)
}

pub const FUNCS: &[(&str, crate::value::NativeFn)] = &[
    ("random", random),
    ("uniform", uniform),
    ("randint", randint),
    ("choice", choice),
    ("shuffle", shuffle),
    ("seed", seed),
];
