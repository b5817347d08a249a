//! Files and folders (section 9): `open` and its `File` handle, `read_file
//! write_file listdir mkdir exists is_dir remove file_size join_path`.
//!
//! Every builtin here is refused with NotSupported when the host turned
//! `allow_files` off. Failures of the operating system are IOErrors whose
//! message names the path. Text is UTF-8: text that is not is a ValueError
//! (as Python's UnicodeDecodeError is). Writes go straight to the file, never
//! into a buffer, so that nothing is lost at `exit()` or written twice after a
//! `fork()`; reads are buffered.

use super::bytes::utf8_text;
use super::given;
use crate::value::format::quote_str;
use crate::value::func::{want_int, want_str};
use crate::value::{Args, Exc, Object, Value, VmResult};
use crate::vm::Vm;
use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Refuses a file builtin when the host turned files off.
pub fn require_files(vm: &Vm, fname: &str) -> VmResult<()> {
    if vm.config.allow_files {
        Ok(())
    } else {
        Err(Exc::new(
            "NotSupported",
            format!("{fname}() is not allowed: the host disabled files (allow_files is false)"),
        ))
    }
}

/// An IOError for `fname(path)`.
fn io_error(fname: &str, path: &str, e: &std::io::Error) -> Exc {
    let text = e.to_string();
    // "No such file or directory (os error 2)" -> "No such file or directory"
    let text = text.split(" (os error").next().unwrap_or(&text);
    Exc::new("IOError", format!("{fname}({}): {text}", quote_str(path)))
}

fn not_utf8(fname: &str, path: &str) -> Exc {
    Exc::value_error(format!(
        "{fname}(): {} is not UTF-8 text; open it with mode \"rb\" to read bytes",
        quote_str(path)
    ))
}

fn path_arg(fname: &str, v: Option<Value>) -> VmResult<String> {
    let v = v.unwrap_or_default();
    Ok(want_str(fname, "path", &v)?.to_string())
}

// ---------------------------------------------------------------------------
// File handles

/// The open file and the bytes read ahead of the script.
struct OpenFile {
    file: std::fs::File,
    buf: Vec<u8>,
    /// How much of `buf` the script has consumed.
    pos: usize,
}

const CHUNK: usize = 64 * 1024;

impl OpenFile {
    fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads one more chunk; false at the end of the file.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        let n = loop {
            match self.file.read(&mut self.buf[old..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        self.buf.truncate(old + *n.as_ref().unwrap_or(&0));
        Ok(n? > 0)
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        out
    }

    fn read_to_end(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = self.pending().to_vec();
        self.buf.clear();
        self.pos = 0;
        self.file.read_to_end(&mut out)?;
        Ok(out)
    }

    /// At most `n` bytes.
    fn read_bytes(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.pending().len() < n && self.fill()? {}
        let n = n.min(self.pending().len());
        Ok(self.take(n))
    }

    /// The bytes of at most `n` characters of UTF-8 text; Err(offset) when the
    /// data is not UTF-8.
    fn read_chars(&mut self, n: usize) -> std::io::Result<Result<Vec<u8>, usize>> {
        // (bytes, chars) of the pending data known to be complete characters
        let (mut bytes, mut chars) = (0usize, 0usize);
        loop {
            let data = self.pending();
            let valid = match std::str::from_utf8(&data[bytes..]) {
                Ok(s) => s,
                Err(e) if e.error_len().is_some() => {
                    let good = bytes + e.valid_up_to();
                    // the characters before the bad byte may still be enough
                    let text = std::str::from_utf8(&data[bytes..good]).unwrap_or("");
                    if chars + text.chars().count() >= n {
                        text
                    } else {
                        return Ok(Err(good));
                    }
                }
                // an incomplete character at the end: more may come
                Err(e) => std::str::from_utf8(&data[bytes..bytes + e.valid_up_to()]).unwrap_or(""),
            };
            if let Some((offset, _)) = valid.char_indices().nth(n - chars) {
                return Ok(Ok(self.take(bytes + offset)));
            }
            bytes += valid.len();
            chars += valid.chars().count();
            if chars == n {
                return Ok(Ok(self.take(bytes)));
            }
            if !self.fill()? {
                let rest = self.pending().len();
                return Ok(if bytes == rest {
                    Ok(self.take(rest))
                } else {
                    Err(bytes)
                });
            }
        }
    }

    /// Up to and including the next newline, or the rest of the file.
    fn read_line(&mut self) -> std::io::Result<Vec<u8>> {
        let mut searched = 0;
        loop {
            if let Some(i) = self.pending()[searched..].iter().position(|&b| b == b'\n') {
                return Ok(self.take(searched + i + 1));
            }
            searched = self.pending().len();
            if !self.fill()? {
                return Ok(self.take(self.pending().len()));
            }
        }
    }

    /// Gives back read-ahead bytes before a write or seek, so that the OS file
    /// position is where the script thinks it is.
    fn unread(&mut self) -> std::io::Result<()> {
        let ahead = self.pending().len() as i64;
        self.buf.clear();
        self.pos = 0;
        if ahead > 0 {
            self.file.seek(SeekFrom::Current(-ahead))?;
        }
        Ok(())
    }
}

/// What `open`'s mode asks for.
#[derive(Clone, Copy)]
struct Mode {
    read: bool,
    write: bool,
    append: bool,
    create: bool,
    create_new: bool,
    truncate: bool,
    binary: bool,
}

/// Parses a Python mode: one of `r w a x`, then any of `b t +` once each.
fn parse_mode(mode: &str) -> Option<Mode> {
    let mut chars = mode.chars();
    let base = chars.next()?;
    let mut m = Mode {
        read: false,
        write: false,
        append: false,
        create: false,
        create_new: false,
        truncate: false,
        binary: false,
    };
    match base {
        'r' => m.read = true,
        'w' => (m.write, m.create, m.truncate) = (true, true, true),
        'a' => (m.write, m.append, m.create) = (true, true, true),
        'x' => (m.write, m.create_new) = (true, true),
        _ => return None,
    }
    let (mut b, mut t, mut plus) = (false, false, false);
    for c in chars {
        let seen = match c {
            'b' => &mut b,
            't' => &mut t,
            '+' => &mut plus,
            _ => return None,
        };
        if *seen {
            return None;
        }
        *seen = true;
    }
    if b && t {
        return None;
    }
    m.binary = b;
    if plus {
        m.read = true;
        m.write = true;
    }
    Some(m)
}

/// A file opened by `open(path, mode)`. Text modes read and write str, binary
/// modes (`"rb"`, `"wb"`, `"ab"`...) bytes. Closed by `close()`, by the end of
/// a `with` block, or when the last reference goes away.
pub struct File {
    path: String,
    mode_text: String,
    mode: Mode,
    open: RefCell<Option<OpenFile>>,
}

const FILE_METHODS: &[&str] = &[
    "read", "readline", "lines", "write", "close", "flush", "seek", "tell", "enter", "exit",
];

impl File {
    fn closed_error(&self) -> Exc {
        Exc::value_error(format!(
            "I/O operation on the closed file {}",
            quote_str(&self.path)
        ))
    }

    /// Runs `f` on the open file, turning OS errors into IOErrors.
    fn with_open<T>(
        &self,
        fname: &str,
        f: impl FnOnce(&mut OpenFile) -> std::io::Result<T>,
    ) -> VmResult<T> {
        let mut slot = self.open.borrow_mut();
        let open = slot.as_mut().ok_or_else(|| self.closed_error())?;
        f(open).map_err(|e| io_error(fname, &self.path, &e))
    }

    fn need(&self, fname: &str, reading: bool) -> VmResult<()> {
        let ok = if reading {
            self.mode.read
        } else {
            self.mode.write
        };
        if self.open.borrow().is_none() {
            return Err(self.closed_error());
        }
        if ok {
            Ok(())
        } else {
            let what = if reading { "reading" } else { "writing" };
            Err(Exc::new(
                "IOError",
                format!(
                    "{fname}(): {} was opened with mode {} (not for {what})",
                    quote_str(&self.path),
                    quote_str(&self.mode_text)
                ),
            ))
        }
    }

    /// Read data as the script sees it: bytes, or text.
    fn data(&self, fname: &str, raw: Vec<u8>) -> VmResult<Value> {
        if self.mode.binary {
            return Ok(Value::bytes(raw));
        }
        utf8_text(raw)
            .map(Value::string)
            .map_err(|_| not_utf8(fname, &self.path))
    }

    fn read(&self, args: Args) -> VmResult<Value> {
        let [n] = args.bind("read", ["n"], 0)?;
        self.need("read", true)?;
        let n = match given(n) {
            Some(n) => want_int("read", "n", &n)?,
            None => -1,
        };
        if n < 0 {
            let raw = self.with_open("read", OpenFile::read_to_end)?;
            return self.data("read", raw);
        }
        let n = n as usize;
        if self.mode.binary {
            return Ok(Value::bytes(self.with_open("read", |f| f.read_bytes(n))?));
        }
        match self.with_open("read", |f| f.read_chars(n))? {
            Ok(raw) => self.data("read", raw),
            Err(_) => Err(not_utf8("read", &self.path)),
        }
    }

    fn readline(&self, args: Args) -> VmResult<Value> {
        args.expect("readline", 0, 0)?;
        self.need("readline", true)?;
        let raw = self.with_open("readline", OpenFile::read_line)?;
        self.data("readline", raw)
    }

    /// The remaining lines, each with its newline (the last may lack one).
    fn lines(&self, args: Args) -> VmResult<Value> {
        args.expect("lines", 0, 0)?;
        self.need("lines", true)?;
        let mut out = Vec::new();
        loop {
            let raw = self.with_open("lines", OpenFile::read_line)?;
            if raw.is_empty() {
                return Ok(Value::list(out));
            }
            out.push(self.data("lines", raw)?);
        }
    }

    fn write(&self, args: Args) -> VmResult<Value> {
        let [data] = args.bind("write", ["data"], 1)?;
        self.need("write", false)?;
        let data = data.unwrap_or_default();
        let (bytes, count) = match (&data, self.mode.binary) {
            (Value::Bytes(b), true) => (b.as_slice(), b.len()),
            (Value::Str(s), false) => (s.as_str().as_bytes(), s.char_len()),
            (other, binary) => {
                let want = if binary {
                    "bytes (the file is binary)"
                } else {
                    "a str (the file is text; use mode \"wb\" for bytes)"
                };
                return Err(Exc::type_error(format!(
                    "write() needs {want}, not {}",
                    other.type_name()
                )));
            }
        };
        self.with_open("write", |f| {
            f.unread()?;
            f.file.write_all(bytes)
        })?;
        Ok(Value::Int(count as i64))
    }

    fn seek(&self, args: Args) -> VmResult<Value> {
        let [offset, whence] = args.bind("seek", ["offset", "whence"], 1)?;
        let offset = want_int("seek", "offset", &offset.unwrap_or_default())?;
        let whence = match given(whence) {
            Some(w) => want_int("seek", "whence", &w)?,
            None => 0,
        };
        let to = match (whence, u64::try_from(offset)) {
            (0, Ok(o)) => SeekFrom::Start(o),
            (0, Err(_)) => {
                return Err(Exc::value_error(
                    "seek(): a position from the start cannot be negative",
                ));
            }
            (1, _) => SeekFrom::Current(offset),
            (2, _) => SeekFrom::End(offset),
            _ => {
                return Err(Exc::value_error(
                    "seek(): whence must be 0 (start), 1 (current) or 2 (end)",
                ));
            }
        };
        let pos = self.with_open("seek", |f| {
            f.unread()?;
            f.file.seek(to)
        })?;
        Ok(Value::Int(pos as i64))
    }

    fn tell(&self, args: Args) -> VmResult<Value> {
        args.expect("tell", 0, 0)?;
        let pos = self.with_open("tell", |f| {
            Ok(f.file.stream_position()? - f.pending().len() as u64)
        })?;
        Ok(Value::Int(pos as i64))
    }

    fn close(&self) -> Value {
        self.open.borrow_mut().take();
        Value::Nil
    }
}

impl Object for File {
    fn type_name(&self) -> &'static str {
        "File"
    }

    fn repr(&self, _vm: &mut Vm) -> String {
        let state = if self.open.borrow().is_some() {
            ""
        } else {
            " (closed)"
        };
        format!(
            "<File {} mode {}{state}>",
            quote_str(&self.path),
            quote_str(&self.mode_text)
        )
    }

    fn get_attr(&self, _vm: &mut Vm, _this: &Value, name: &str) -> Option<VmResult<Value>> {
        Some(Ok(match name {
            "name" => Value::str(&self.path),
            "mode" => Value::str(&self.mode_text),
            "closed" => Value::Bool(self.open.borrow().is_none()),
            _ => return None,
        }))
    }

    fn call_method(
        &self,
        _vm: &mut Vm,
        this: &Value,
        name: &str,
        args: Args,
    ) -> Option<VmResult<Value>> {
        Some(match name {
            "read" => self.read(args),
            "readline" => self.readline(args),
            "lines" => self.lines(args),
            "write" => self.write(args),
            "seek" => self.seek(args),
            "tell" => self.tell(args),
            "flush" => args.expect("flush", 0, 0).map(|_| Value::Nil),
            "close" => args.expect("close", 0, 0).map(|_| self.close()),
            "enter" => args.expect("enter", 0, 0).map(|_| this.clone()),
            // exit(err): close, and let any error go on (a false result)
            "exit" => args.expect("exit", 0, 1).map(|_| self.close()),
            _ => return None,
        })
    }

    fn method_names(&self) -> &'static [&'static str] {
        FILE_METHODS
    }

    fn is_iterator(&self) -> bool {
        true
    }

    /// `for line in f`: the lines, as `readline()` gives them.
    fn next(&self, _vm: &mut Vm, _this: &Value) -> Option<VmResult<Option<Value>>> {
        Some(self.readline(Args::new(&[])).map(|line| match &line {
            Value::Str(s) if s.as_str().is_empty() => None,
            Value::Bytes(b) if b.is_empty() => None,
            _ => Some(line),
        }))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn open(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [path, mode] = args.bind("open", ["path", "mode"], 1)?;
    require_files(vm, "open")?;
    let path = path_arg("open", path)?;
    let mode_text = match given(mode) {
        Some(m) => want_str("open", "mode", &m)?.to_string(),
        None => "r".to_string(),
    };
    let mode = parse_mode(&mode_text).ok_or_else(|| {
        Exc::value_error(format!("open(): invalid mode {} (use \"r\", \"w\", \"a\" or \"x\", with \"b\" for bytes and \"+\" to read and write)", quote_str(&mode_text)))
    })?;
    let file = OpenOptions::new()
        .read(mode.read)
        .write(mode.write && !mode.append)
        .append(mode.append)
        .create(mode.create)
        .create_new(mode.create_new)
        .truncate(mode.truncate)
        .open(&path)
        .map_err(|e| io_error("open", &path, &e))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Exc::new(
            "IOError",
            format!("open({}): Is a directory", quote_str(&path)),
        ));
    }
    let open = OpenFile {
        file,
        buf: Vec::new(),
        pos: 0,
    };
    Ok(Value::object(File {
        path,
        mode_text,
        mode,
        open: RefCell::new(Some(open)),
    }))
}

// ---------------------------------------------------------------------------
// Whole files and folders

fn read_file(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [path] = args.bind("read_file", ["path"], 1)?;
    require_files(vm, "read_file")?;
    let path = path_arg("read_file", path)?;
    let raw = std::fs::read(&path).map_err(|e| io_error("read_file", &path, &e))?;
    utf8_text(raw)
        .map(Value::string)
        .map_err(|_| not_utf8("read_file", &path))
}

fn write_file(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [path, data] = args.bind("write_file", ["path", "data"], 2)?;
    require_files(vm, "write_file")?;
    let path = path_arg("write_file", path)?;
    let data = data.unwrap_or_default();
    let bytes: &[u8] = match &data {
        Value::Str(s) => s.as_str().as_bytes(),
        Value::Bytes(b) => b,
        other => {
            return Err(Exc::type_error(format!(
                "write_file() needs a str or bytes to write, not {}",
                other.type_name()
            )));
        }
    };
    std::fs::write(&path, bytes).map_err(|e| io_error("write_file", &path, &e))?;
    Ok(Value::Nil)
}

fn listdir(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [path] = args.bind("listdir", ["path"], 0)?;
    require_files(vm, "listdir")?;
    let path = match given(path) {
        Some(p) => path_arg("listdir", Some(p))?,
        None => ".".to_string(),
    };
    let entries = std::fs::read_dir(&path).map_err(|e| io_error("listdir", &path, &e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("listdir", &path, &e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(Value::list(names.into_iter().map(Value::string).collect()))
}

/// `mkdir(path, parents: false)`; with `parents: true`, missing parents are
/// made too and an existing folder is not an error (as `mkdir -p`).
fn mkdir(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [path, parents] = args.bind("mkdir", ["path", "parents"], 1)?;
    require_files(vm, "mkdir")?;
    let path = path_arg("mkdir", path)?;
    let made = if parents.is_some_and(|p| p.truthy()) {
        std::fs::create_dir_all(&path)
    } else {
        std::fs::create_dir(&path)
    };
    made.map_err(|e| io_error("mkdir", &path, &e))?;
    Ok(Value::Nil)
}

fn exists(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [path] = args.bind("exists", ["path"], 1)?;
    require_files(vm, "exists")?;
    Ok(Value::Bool(Path::new(&path_arg("exists", path)?).exists()))
}

fn is_dir(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [path] = args.bind("is_dir", ["path"], 1)?;
    require_files(vm, "is_dir")?;
    Ok(Value::Bool(Path::new(&path_arg("is_dir", path)?).is_dir()))
}

/// Removes a file, a link, or an empty folder.
fn remove(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [path] = args.bind("remove", ["path"], 1)?;
    require_files(vm, "remove")?;
    let path = path_arg("remove", path)?;
    let meta = std::fs::symlink_metadata(&path).map_err(|e| io_error("remove", &path, &e))?;
    let removed = if meta.is_dir() {
        std::fs::remove_dir(&path)
    } else {
        std::fs::remove_file(&path)
    };
    removed.map_err(|e| io_error("remove", &path, &e))?;
    Ok(Value::Nil)
}

fn file_size(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let [path] = args.bind("file_size", ["path"], 1)?;
    require_files(vm, "file_size")?;
    let path = path_arg("file_size", path)?;
    let meta = std::fs::metadata(&path).map_err(|e| io_error("file_size", &path, &e))?;
    Ok(Value::Int(i64::try_from(meta.len()).unwrap_or(i64::MAX)))
}

/// `join_path(a, b, ...)`: as Python's os.path.join, an absolute part starts over.
fn join_path(vm: &mut Vm, args: Args) -> VmResult<Value> {
    let parts = args.expect("join_path", 1, usize::MAX)?;
    require_files(vm, "join_path")?;
    let mut path = PathBuf::new();
    for (i, p) in parts.iter().enumerate() {
        let p = p.as_str().ok_or_else(|| {
            Exc::type_error(format!(
                "join_path() part {} must be a str, not {}",
                i + 1,
                p.type_name()
            ))
        })?;
        path.push(p);
    }
    Ok(Value::string(path.to_string_lossy().into_owned()))
}

pub const FUNCS: &[(&str, crate::value::NativeFn)] = &[
    ("open", open),
    ("read_file", read_file),
    ("write_file", write_file),
    ("listdir", listdir),
    ("mkdir", mkdir),
    ("exists", exists),
    ("is_dir", is_dir),
    ("remove", remove),
    ("file_size", file_size),
    ("join_path", join_path),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_python() {
        for good in [
            "r", "w", "a", "x", "rb", "wb", "ab", "r+", "rb+", "r+b", "w+", "a+b", "rt",
        ] {
            assert!(parse_mode(good).is_some(), "{good}");
        }
        for bad in ["", "q", "rr", "rw", "bb", "rbt", "r++", "b"] {
            assert!(parse_mode(bad).is_none(), "{bad}");
        }
        let m = parse_mode("a+").unwrap();
        assert!(m.read && m.write && m.append && !m.binary);
    }

    #[test]
    fn reading_characters_across_chunks() {
        let dir = std::env::temp_dir().join(format!("proc_fs_test_{}", std::process::id()));
        let text = "é".repeat(CHUNK) + "x\n😀 end";
        std::fs::write(&dir, &text).unwrap();
        let mut f = OpenFile {
            file: std::fs::File::open(&dir).unwrap(),
            buf: Vec::new(),
            pos: 0,
        };
        let first = f.read_chars(CHUNK + 1).unwrap().unwrap();
        assert_eq!(String::from_utf8(first).unwrap(), "é".repeat(CHUNK) + "x");
        assert_eq!(f.read_line().unwrap(), b"\n");
        assert_eq!(
            String::from_utf8(f.read_chars(1).unwrap().unwrap()).unwrap(),
            "😀"
        );
        assert_eq!(f.read_to_end().unwrap(), b" end");
        assert_eq!(f.read_chars(3).unwrap().unwrap(), b"");
        std::fs::write(&dir, b"ab\xffcd").unwrap();
        let mut f = OpenFile {
            file: std::fs::File::open(&dir).unwrap(),
            buf: Vec::new(),
            pos: 0,
        };
        assert_eq!(f.read_chars(2).unwrap().unwrap(), b"ab");
        assert_eq!(f.read_chars(2).unwrap(), Err(0));
        let _ = std::fs::remove_file(&dir);
    }
}
