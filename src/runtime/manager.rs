//! Managers (section 13): `manager()` starts a server process that owns
//! dicts, lists, namespaces, queues, locks and values; scripts use them
//! through proxies (`DictProxy`, `ListProxy`, `Namespace`, `QueueProxy`,
//! `LockProxy`, `ValueProxy`) from any number of processes, as with Python's
//! `multiprocessing.Manager`.
//!
//! - `server.rs`: the server process, one poll loop, every operation done
//!   there (so each is atomic).
//! - `client.rs`: each process's connections (one per server, opened on first
//!   use) and the round trip of a request.
//! - `codec.rs`: the request and reply frames.
//!
//! A proxy is only an address (an abstract unix socket name), an object id and
//! a kind, so it can be sent to any process, including ones forked before the
//! manager existed (`Object::portable`, `runtime::revive`). The server is a
//! child of the process that called `manager()`: recorded as a daemon child,
//! it is ended and reaped when that process ends, or earlier by `shutdown()`
//! or the end of `with manager() as m { }`; it also dies with its parent.
//!
//! Values stored in a managed container are copies, as in Python: what a
//! script reads is a fresh copy, so changing it changes nothing stored.

mod bell;
mod client;
mod codec;
mod server;

pub use client::{Clients, forget_inherited};

use crate::runtime::process::{ProcState, adopt_helper, end_helper, fork_raw, set_death_signal};
use crate::stdlib::os::require_processes;
use crate::value::func::{want_f64, want_int};
use crate::value::{Args, Exc, MapData, NativeFn, Object, Value, VmResult};
use crate::vm::Vm;
use std::cell::Cell;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::rc::Rc;

pub const FUNCS: &[(&str, NativeFn)] = &[("manager", manager)];

/// What a process knows of a server.
struct Link {
    /// The abstract socket name (without the leading NUL).
    address: Rc<str>,
    /// In the process that started the server: its record as a child.
    owner: Option<Owner>,
    /// Set by `shutdown()` in this process.
    shut: Cell<bool>,
}

struct Owner {
    /// The process that started the server (a forked copy of it is not).
    pid: u32,
    server_pid: i32,
    server: Rc<ProcState>,
}

impl Link {
    fn remote(address: Rc<str>) -> Rc<Link> {
        Rc::new(Link {
            address,
            owner: None,
            shut: Cell::new(false),
        })
    }

    fn call(&self, vm: &mut Vm, id: u64, name: &str, pos: &[Value]) -> VmResult<Value> {
        self.call_named(vm, id, name, Args::new(pos))
    }

    fn call_named(&self, vm: &mut Vm, id: u64, name: &str, args: Args) -> VmResult<Value> {
        if self.shut.get() {
            return Err(client::gone());
        }
        client::call(
            vm,
            &self.address,
            id,
            name,
            args.pos,
            args.names,
            args.named,
        )
    }

    /// Ends the server, in the process that started it. Elsewhere (a forked
    /// copy leaving `with manager() as m { }` on its way to `exit`, say) it
    /// does nothing, as Python's manager ignores a shutdown from another
    /// process.
    fn shutdown(&self, vm: &mut Vm) {
        let Some(o) = &self.owner else {
            return;
        };
        if o.pid != std::process::id() || self.shut.replace(true) {
            return;
        }
        end_helper(&o.server);
        client::forget(vm, &self.address);
    }
}

/// `manager()`: starts a server process and returns its Manager.
fn manager(vm: &mut Vm, args: Args) -> VmResult<Value> {
    args.expect("manager", 0, 0)?;
    require_processes(vm, "manager")?;
    let id = vm.new_handle_id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let address: Rc<str> = Rc::from(format!(
        "proc-manager-{}-{}-{nanos:08x}",
        id >> 32,
        id & 0xffff_ffff
    ));
    let cannot = |e: std::io::Error| {
        Exc::new(
            "ProcessError",
            format!("manager(): cannot create the server's socket: {e}"),
        )
    };
    // bound before the fork: clients can connect as soon as this returns
    let addr = SocketAddr::from_abstract_name(address.as_bytes()).map_err(cannot)?;
    let listener = UnixListener::bind_addr(&addr).map_err(cannot)?;
    let bell = Rc::new(bell::Bell::new().map_err(cannot)?);
    let parent = std::process::id() as i32;
    let pid = fork_raw(vm, "manager")?;
    if pid == 0 {
        set_death_signal(parent);
        server::run(vm, listener, &bell);
    }
    crate::runtime::process::spread(pid);
    drop(listener);
    client::add_bell(vm, &address, bell);
    let server = adopt_helper(vm, pid, "manager");
    let link = Rc::new(Link {
        address,
        owner: Some(Owner {
            pid: std::process::id(),
            server_pid: pid,
            server,
        }),
        shut: Cell::new(false),
    });
    Ok(Value::object(Manager { link }))
}

/// The `Manager` handle.
struct Manager {
    link: Rc<Link>,
}

const MANAGER_METHODS: &[&str] = &[
    "dict",
    "list",
    "namespace",
    "queue",
    "lock",
    "value",
    "shutdown",
    "enter",
    "exit",
];

impl Manager {
    /// Creates an object on the server and returns its proxy.
    fn create(&self, vm: &mut Vm, kind: Kind, init: Value) -> VmResult<Value> {
        let id = self
            .link
            .call(vm, 0, "create", &[Value::str(kind.code()), init])?;
        let id = id.as_int().unwrap_or(0) as u64;
        Ok(Value::object(Proxy {
            link: self.link.clone(),
            id,
            kind,
        }))
    }

    fn dict(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        let [init] = args.bind("dict", ["map"], 0)?;
        let init = match crate::stdlib::given(init) {
            None => Value::map(MapData::default()),
            Some(v) => {
                // from a map, a DictProxy, or [key, value] pairs, as update() takes
                let m = Value::map(MapData::default());
                let v = plain_copy(vm, v)?;
                let update = crate::stdlib::map::METHODS
                    .iter()
                    .find(|(n, _)| *n == "update")
                    .map(|(_, f)| *f)
                    .ok_or_else(|| Exc::type_error("map.update is missing"))?;
                update(vm, &m, Args::new(&[v]))?;
                m
            }
        };
        self.create(vm, Kind::Dict, init)
    }

    fn list(&self, vm: &mut Vm, args: Args) -> VmResult<Value> {
        let [init] = args.bind("list", ["iterable"], 0)?;
        let items = match crate::stdlib::given(init) {
            None => Vec::new(),
            Some(v) => vm.collect(&v)?,
        };
        self.create(vm, Kind::List, Value::list(items))
    }
}

impl Object for Manager {
    fn type_name(&self) -> &'static str {
        "Manager"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        if self.link.shut.get() {
            return "<Manager shut down>".into();
        }
        match &self.link.owner {
            Some(o) => format!("<Manager pid={}>", o.server_pid),
            None => "<Manager>".into(),
        }
    }

    fn get_attr(&self, _vm: &mut Vm, _this: &Value, name: &str) -> Option<VmResult<Value>> {
        match name {
            "address" => Some(Ok(Value::str(&self.link.address))),
            _ => None,
        }
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            "dict" => self.dict(vm, args),
            "list" => self.list(vm, args),
            "namespace" => args
                .expect("namespace", 0, 0)
                .and_then(|_| self.create(vm, Kind::Namespace, Value::Nil)),
            "queue" => args.bind("queue", ["maxsize"], 0).and_then(|[n]| {
                let n = match crate::stdlib::given(n) {
                    Some(n) => want_int("queue", "maxsize", &n)?,
                    None => 0,
                };
                self.create(vm, Kind::Queue, Value::Int(n))
            }),
            "lock" => args
                .expect("lock", 0, 0)
                .and_then(|_| self.create(vm, Kind::Lock, Value::Nil)),
            "value" => args
                .bind("value", ["x"], 1)
                .and_then(|[x]| self.create(vm, Kind::Value, x.unwrap_or_default())),
            "shutdown" => args.expect("shutdown", 0, 0).map(|_| {
                self.link.shutdown(vm);
                Value::Nil
            }),
            "enter" => args.expect("enter", 0, 0).map(|_| this.clone()),
            // exit(err): shut down, and let any error go on
            "exit" => args.expect("exit", 0, 1).map(|_| {
                self.link.shutdown(vm);
                Value::Nil
            }),
            _ => return None,
        })
    }

    fn method_names(&self) -> &'static [&'static str] {
        MANAGER_METHODS
    }

    fn portable(&self) -> Option<(&'static str, Value)> {
        Some(("manager", Value::str(&self.link.address)))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The kinds of managed objects.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Dict,
    List,
    Namespace,
    Queue,
    Lock,
    Value,
}

const DICT_METHODS: &[&str] = &[
    "get",
    "keys",
    "values",
    "items",
    "pop",
    "popitem",
    "update",
    "setdefault",
    "copy",
    "clear",
    "contains",
];
const LIST_METHODS: &[&str] = &[
    "append", "extend", "insert", "pop", "remove", "index", "count", "sort", "reverse", "copy",
    "clear", "contains",
];
const QUEUE_METHODS: &[&str] = &[
    "put",
    "get",
    "put_nowait",
    "get_nowait",
    "qsize",
    "empty",
    "full",
];
const LOCK_METHODS: &[&str] = &["acquire", "release", "locked", "enter", "exit"];
const VALUE_METHODS: &[&str] = &["get", "set"];

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Dict,
        Kind::List,
        Kind::Namespace,
        Kind::Queue,
        Kind::Lock,
        Kind::Value,
    ];

    fn type_name(self) -> &'static str {
        match self {
            Kind::Dict => "DictProxy",
            Kind::List => "ListProxy",
            Kind::Namespace => "Namespace",
            Kind::Queue => "QueueProxy",
            Kind::Lock => "LockProxy",
            Kind::Value => "ValueProxy",
        }
    }

    /// The name the server knows the kind by.
    fn code(self) -> &'static str {
        match self {
            Kind::Dict => "dict",
            Kind::List => "list",
            Kind::Namespace => "namespace",
            Kind::Queue => "queue",
            Kind::Lock => "lock",
            Kind::Value => "value",
        }
    }

    fn methods(self) -> &'static [&'static str] {
        match self {
            Kind::Dict => DICT_METHODS,
            Kind::List => LIST_METHODS,
            Kind::Namespace => &[],
            Kind::Queue => QUEUE_METHODS,
            Kind::Lock => LOCK_METHODS,
            Kind::Value => VALUE_METHODS,
        }
    }
}

/// A proxy: names one object of one server.
struct Proxy {
    link: Rc<Link>,
    id: u64,
    kind: Kind,
}

/// A proxy's value as plain data (a DictProxy or ListProxy argument becomes a
/// copy of its contents), so that the server never has to call itself.
fn plain_copy(vm: &mut Vm, v: Value) -> VmResult<Value> {
    if let Value::Object(h) = &v {
        if let Some(p) = h.downcast::<Proxy>() {
            if matches!(p.kind, Kind::Dict | Kind::List) {
                return p.call(vm, "copy", &[]);
            }
        }
    }
    Ok(v)
}

/// `(block, timeout)` of a blocking method as the one timeout the server
/// takes: nil waits for ever, 0 does not wait.
fn wait_time(fname: &str, block: Option<Value>, timeout: Option<Value>) -> VmResult<Value> {
    if block.is_some_and(|b| !b.truthy()) {
        return Ok(Value::Int(0));
    }
    match crate::stdlib::given(timeout) {
        None => Ok(Value::Nil),
        Some(t) => {
            let t = want_f64(fname, "timeout", &t)?;
            if t < 0.0 || t.is_nan() {
                return Err(Exc::value_error(format!(
                    "{fname}(): timeout must be a non-negative number"
                )));
            }
            Ok(Value::Float(t))
        }
    }
}

impl Proxy {
    fn call(&self, vm: &mut Vm, name: &str, pos: &[Value]) -> VmResult<Value> {
        self.link.call(vm, self.id, name, pos)
    }

    fn dict_method(&self, vm: &mut Vm, name: &str, args: Args) -> Option<VmResult<Value>> {
        Some(match name {
            "get_item" | "set_item" | "len" | "contains" | "iter" => self.call(vm, name, args.pos),
            "update" => match args.pos {
                [v] => plain_copy(vm, v.clone()).and_then(|v| {
                    let pos = [v];
                    self.link
                        .call_named(vm, self.id, name, Args { pos: &pos, ..args })
                }),
                _ => self.link.call_named(vm, self.id, name, args),
            },
            _ if DICT_METHODS.contains(&name) => self.link.call_named(vm, self.id, name, args),
            _ => return None,
        })
    }

    fn list_method(&self, vm: &mut Vm, name: &str, args: Args) -> Option<VmResult<Value>> {
        Some(match name {
            "get_item" | "set_item" | "len" | "contains" | "iter" | "get_slice" => {
                self.call(vm, name, args.pos)
            }
            // any iterable (a generator, a proxy) is read here, in the client
            "extend" => args.bind("extend", ["xs"], 1).and_then(|[xs]| {
                let items = vm.collect(&xs.unwrap_or_default())?;
                self.call(vm, name, &[Value::list(items)])
            }),
            _ if LIST_METHODS.contains(&name) => self.link.call_named(vm, self.id, name, args),
            _ => return None,
        })
    }

    fn queue_method(&self, vm: &mut Vm, name: &str, args: Args) -> Option<VmResult<Value>> {
        Some(match name {
            "put" => args.bind("put", ["item", "block", "timeout"], 1).and_then(
                |[item, block, timeout]| {
                    let t = wait_time("put", block, timeout)?;
                    self.call(vm, "put", &[item.unwrap_or_default(), t])
                },
            ),
            "put_nowait" => args
                .bind("put_nowait", ["item"], 1)
                .and_then(|[item]| self.call(vm, "put", &[item.unwrap_or_default(), 0.into()])),
            "get" => args
                .bind("get", ["block", "timeout"], 0)
                .and_then(|[block, timeout]| {
                    let t = wait_time("get", block, timeout)?;
                    self.call(vm, "get", &[t])
                }),
            "get_nowait" => args
                .expect("get_nowait", 0, 0)
                .and_then(|_| self.call(vm, "get", &[0.into()])),
            "qsize" | "empty" | "full" => args
                .expect(name, 0, 0)
                .and_then(|_| self.call(vm, name, &[])),
            _ => return None,
        })
    }

    fn lock_method(&self, vm: &mut Vm, name: &str, args: Args) -> Option<VmResult<Value>> {
        Some(match name {
            "acquire" => {
                args.bind("acquire", ["block", "timeout"], 0)
                    .and_then(|[block, timeout]| {
                        let t = wait_time("acquire", block, timeout)?;
                        self.call(vm, "acquire", &[t])
                    })
            }
            "enter" => args
                .expect("enter", 0, 0)
                .and_then(|_| self.call(vm, "acquire", &[Value::Nil])),
            "release" | "locked" => args
                .expect(name, 0, 0)
                .and_then(|_| self.call(vm, name, &[])),
            "exit" => args
                .expect("exit", 0, 1)
                .and_then(|_| self.call(vm, "release", &[])),
            _ => return None,
        })
    }

    /// `Namespace(x=1, y="a")`: fields sorted, as Python shows them.
    fn namespace_repr(&self, vm: &mut Vm) -> VmResult<String> {
        let items = self.call(vm, "items", &[])?;
        let mut parts = Vec::new();
        for pair in vm.collect(&items)? {
            let [k, v] = vm.unpack(&pair, 2)?.try_into().unwrap_or_default();
            let k = k.as_str().unwrap_or("?").to_string();
            parts.push(format!("{k}={}", crate::value::format::to_repr(vm, &v)?));
        }
        parts.sort();
        Ok(format!("Namespace({})", parts.join(", ")))
    }

    fn show(&self, vm: &mut Vm) -> VmResult<String> {
        match self.kind {
            Kind::Dict | Kind::List => {
                let copy = self.call(vm, "copy", &[])?;
                crate::value::format::to_repr(vm, &copy)
            }
            Kind::Namespace => self.namespace_repr(vm),
            Kind::Value => {
                let v = self.call(vm, "get", &[])?;
                Ok(format!("Value({})", crate::value::format::to_repr(vm, &v)?))
            }
            Kind::Lock => {
                let held = self.call(vm, "locked", &[])?.truthy();
                Ok(format!(
                    "<LockProxy {}>",
                    if held { "locked" } else { "unlocked" }
                ))
            }
            Kind::Queue => Ok("<QueueProxy>".into()),
        }
    }
}

impl Object for Proxy {
    fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    fn repr(&self, vm: &mut Vm) -> String {
        match self.show(vm) {
            Ok(s) => s,
            Err(e) => format!("<{} ({})>", self.kind.type_name(), e.error().message),
        }
    }

    fn get_attr(&self, vm: &mut Vm, _this: &Value, name: &str) -> Option<VmResult<Value>> {
        match (self.kind, name) {
            (Kind::Namespace, _) => Some(self.call(vm, "get_attr", &[Value::str(name)])),
            (Kind::Value, "value") => Some(self.call(vm, "get", &[])),
            _ => None,
        }
    }

    fn set_attr(&self, vm: &mut Vm, name: &str, value: Value) -> VmResult<()> {
        match (self.kind, name) {
            (Kind::Namespace, _) => self
                .call(vm, "set_attr", &[Value::str(name), value])
                .map(|_| ()),
            (Kind::Value, "value") => self.call(vm, "set", &[value]).map(|_| ()),
            _ => Err(Exc::new(
                "AttributeError",
                format!("cannot set attribute `{name}` of {}", self.kind.type_name()),
            )),
        }
    }

    fn call_method(
        &self,
        vm: &mut Vm,
        _this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        match self.kind {
            Kind::Dict => self.dict_method(vm, name, args),
            Kind::List => self.list_method(vm, name, args),
            Kind::Queue => self.queue_method(vm, name, args),
            Kind::Lock => self.lock_method(vm, name, args),
            Kind::Value => match name {
                "get" => Some(
                    args.expect("get", 0, 0)
                        .and_then(|_| self.call(vm, "get", &[])),
                ),
                "set" => Some(
                    args.bind("set", ["x"], 1)
                        .and_then(|[x]| self.call(vm, "set", &[x.unwrap_or_default()])),
                ),
                _ => None,
            },
            Kind::Namespace => None,
        }
    }

    fn method_names(&self) -> &'static [&'static str] {
        self.kind.methods()
    }

    fn portable(&self) -> Option<(&'static str, Value)> {
        Some((
            "manager-proxy",
            Value::list(vec![
                Value::str(&self.link.address),
                Value::Int(self.id as i64),
                Value::str(self.kind.code()),
            ]),
        ))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Rebuilds a Manager (`tag` "manager") or a proxy ("manager-proxy") from the
/// data its `portable` gave, in any process.
pub fn revive(tag: &str, data: &Value) -> Option<VmResult<Value>> {
    let bad = || Exc::new("ValueError", "the message has a malformed manager proxy");
    match tag {
        "manager" => Some(match data.as_str() {
            Some(a) => Ok(Value::object(Manager {
                link: Link::remote(Rc::from(a)),
            })),
            None => Err(bad()),
        }),
        "manager-proxy" => {
            let Value::List(l) = data else {
                return Some(Err(bad()));
            };
            let l = l.borrow();
            let (Some(address), Some(id), Some(code)) = (
                l.first().and_then(Value::as_str),
                l.get(1).and_then(Value::as_int),
                l.get(2).and_then(Value::as_str),
            ) else {
                return Some(Err(bad()));
            };
            let Some(kind) = Kind::ALL.into_iter().find(|k| k.code() == code) else {
                return Some(Err(bad()));
            };
            Some(Ok(Value::object(Proxy {
                link: Link::remote(Rc::from(address)),
                id: id as u64,
                kind,
            })))
        }
        _ => None,
    }
}
